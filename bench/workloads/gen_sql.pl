# gen_sql.pl N: a SQL script for sqlite3 on stdout: N single-row INSERTs in
# one transaction (each parsed and prepared on its own), two indexes, then
# indexed point and range queries, an UPDATE, a DELETE, a join and GROUP
# BYs.  Deterministic (an LCG, no rand()); the queries print only results
# that do not depend on the allocator.
use strict;
use warnings;
my $n = shift // 200000;
my $x = 4242;
sub nxt { $x = (1103515245 * $x + 12345) % 2147483648; return $x >> 8; }
my @syl = qw(ka lo mi nu pe ra si to vu xa ze bo cy da fe gi hu);
print <<'SQL';
PRAGMA cache_size = -65536;
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL, grp INTEGER,
                  price REAL, qty INTEGER, note TEXT);
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
BEGIN;
SQL
my @buf;
for my $i (1 .. $n) {
	my $r = nxt();
	my $name = '';
	$name .= $syl[nxt() % @syl] for 0 .. 2 + $r % 5;
	my $note = $r % 3 ? "'" . ('n' x (nxt() % 120)) . "$i'" : 'NULL';
	push @buf, sprintf("INSERT INTO item VALUES(%d,'%s%d',%d,%d.%02d,%d,%s);\n",
	    $i, $name, $i % 997, nxt() % 1000, nxt() % 5000, $r % 100, nxt() % 50, $note);
	if (@buf >= 4096) { print @buf; @buf = (); }
}
print @buf;
print "INSERT INTO grp VALUES($_,'group-$_');\n" for 0 .. 999;
print <<'SQL';
COMMIT;
CREATE INDEX item_grp ON item(grp, price);
CREATE INDEX item_name ON item(name);
SELECT count(*), sum(qty), round(sum(price), 2), sum(length(note)) FROM item;
WITH RECURSIVE k(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM k WHERE v < 100000)
SELECT count(*), sum(i.qty), round(sum(i.price), 2)
  FROM k JOIN item i ON i.grp = k.v % 1000 AND i.price < (k.v % 5000) / 20.0;
WITH RECURSIVE k(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM k WHERE v < 50000)
SELECT count(*), sum(i.id) FROM k JOIN item i ON i.name = (SELECT name FROM item WHERE id = k.v * 3);
UPDATE item SET qty = qty + 1, note = coalesce(note, '') || 'u' WHERE grp % 7 = 3;
DELETE FROM item WHERE id % 5 = 0;
SELECT g.label, count(*), sum(i.qty), round(avg(i.price), 3)
  FROM item i JOIN grp g ON g.id = i.grp GROUP BY g.id ORDER BY count(*) DESC, g.id LIMIT 10;
SELECT substr(name, 1, 2) AS p, count(*), max(length(note)) FROM item GROUP BY p ORDER BY p LIMIT 20;
SELECT count(DISTINCT name), count(DISTINCT note) FROM item;
SELECT id, name, grp, qty FROM item ORDER BY price DESC, id LIMIT 5;
SQL
