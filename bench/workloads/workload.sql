-- sqlite3 workload of the preload test: 100k rows from a recursive CTE,
-- aggregates, ORDER BY, index creation, joins, an update and a delete.
PRAGMA journal_mode=OFF;
PRAGMA cache_size=-4000;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, val INTEGER, name TEXT, pad BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t SELECT x, x % 97, (x * 7919) % 100003, printf('name-%06d-%s', (x * 31) % 100000, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26)), zeroblob(x % 200) FROM c;
SELECT count(*), sum(val), min(name), max(name), sum(length(pad)) FROM t;
SELECT grp, count(*), sum(val), avg(val), max(length(name)) FROM t GROUP BY grp ORDER BY sum(val) DESC LIMIT 10;
SELECT id, val, name FROM t ORDER BY val DESC, id LIMIT 15;
SELECT id, name FROM t ORDER BY name, id LIMIT 10 OFFSET 50000;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp_val ON t(grp, val);
SELECT count(*) FROM t WHERE name BETWEEN 'name-010000' AND 'name-019999';
SELECT id, val FROM t WHERE grp = 42 ORDER BY val LIMIT 5;
SELECT group_concat(id, ',') FROM (SELECT id FROM t WHERE grp = 7 AND val < 5000 ORDER BY id);
CREATE TABLE u AS SELECT grp, sum(val) AS s, count(*) AS n FROM t GROUP BY grp;
SELECT count(*), sum(a.val * b.n) % 1000000007 FROM t a JOIN u b ON a.grp = b.grp WHERE a.id % 10 = 0;
SELECT count(DISTINCT name), count(DISTINCT substr(name, 13)) FROM t;
UPDATE t SET name = upper(name), val = val + 1 WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(val), hex(substr(max(name), 1, 12)) FROM t;
WITH RECURSIVE f(n, a, b) AS (SELECT 0, 0, 1 UNION ALL SELECT n + 1, b, (a + b) % 1000000007 FROM f WHERE n < 5000)
SELECT max(n), sum(a) % 1000000007 FROM f;
SELECT name FROM t ORDER BY random() IS NULL, name DESC LIMIT 3;
PRAGMA integrity_check;
VACUUM;
SELECT count(*), total(val) FROM t;
