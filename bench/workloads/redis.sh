# shellcheck shell=bash
# redis-server (the only preloaded process) on 127.0.0.1 and a free port,
# no persistence; driven by redis-benchmark, then known keys are written with
# redis-cli and read back; SHUTDOWN NOSAVE ends it (so its stats are written).
# shellcheck source=bench/workloads/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nk_need redis-server redis-cli redis-benchmark
requests=${1:-$(nk_size 100000)}

# pid: the background job (the server, or /usr/bin/time when the driver
# times it, the server its child); kill_job SIGNAL signals the server first.
pid='' port=''
kill_job() {
	local p
	for p in $(ps -o pid= --ppid "$pid" 2>/dev/null) "$pid"; do
		kill "-$1" "$p" 2>/dev/null || true
	done
}
# is_ours SERVER_PID: the server that answered is the one this script started.
is_ours() {
	[ "$1" = "$pid" ] || [ "$(awk '{ print $4 }' "/proc/$1/stat" 2>/dev/null)" = "$pid" ]
}
stop_server() {
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		timeout 5 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill_job TERM && sleep 1
		kill_job KILL
	fi
	wait "$pid" 2>/dev/null || true
	pid=
	grep '^numakeg: ' server.out >&2 2>/dev/null || true
	if grep -q 'crashed by signal' redis.log 2>/dev/null; then
		echo "redis-server crashed; its log:" >&2
		grep -A 40 'BUG REPORT START' redis.log >&2
	fi
}
trap stop_server EXIT

cli() { timeout 30 redis-cli -h 127.0.0.1 -p "$port" "$@"; }

# Start on a free port: a bind failure (port taken) makes the server exit,
# and then the next port is tried.  The server that answers must be ours
# (its process_id), not another one that happened to listen there.
started=0
for attempt in $(seq 0 19); do
	port=$((20000 + ($$ * 7 + attempt * 997 + RANDOM) % 20000))
	rm -f redis.log
	nk_target_argv redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
		--save '' --appendonly no --daemonize no --dir "$PWD" --logfile "$PWD/redis.log" \
		--databases 2 --io-threads 1
	"${NK_ARGV[@]}" >server.out 2>&1 </dev/null &
	pid=$!
	answered=0
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		if [ "$(cli ping 2>/dev/null)" = PONG ]; then
			answered=1
			spid=$(cli info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
			if [ -n "$spid" ] && is_ours "$spid"; then
				started=1
			fi
			break
		fi
		sleep 0.1
	done
	[ "$started" = 1 ] && break
	if kill -0 "$pid" 2>/dev/null; then
		kill_job KILL
		wait "$pid" 2>/dev/null || true
		if [ "$answered" = 0 ]; then
			echo "redis-server (pid $pid, port $port) did not answer PING within 15 s; its log:" >&2
			tail -n 20 redis.log >&2 2>/dev/null || true
			pid=
			exit 1
		fi
		# Another server answered on that port: try another one.
	else
		st=0
		wait "$pid" 2>/dev/null || st=$?
		if ! grep -q 'Address already in use' redis.log 2>/dev/null; then
			echo "redis-server (pid $pid, port $port) exited at its start with status $st$( ((st > 128)) && echo " (signal $((st - 128)))"); its log:" >&2
			tail -n 20 redis.log >&2 2>/dev/null || true
			pid=
			exit 1
		fi
	fi
	pid=
done
if [ "$started" != 1 ]; then
	echo "redis-server did not start on any port; its log:" >&2
	tail -n 20 redis.log >&2 2>/dev/null || true
	exit 1
fi
echo "server up"

# The benchmark: its timings vary, so only the test names are printed.
timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -n "$requests" -c 20 -P 16 -d 100 -q \
	-t set,get,lpush,lpop,incr >bench.txt 2>&1 || {
	echo "redis-benchmark failed:" >&2; tr '\r' '\n' <bench.txt | tail -n 20 >&2; exit 1; }
tr '\r' '\n' <bench.txt | grep -o '^[A-Z_]*: [0-9.]* requests per second' | cut -d: -f1
echo "counter after the benchmark: $(cli get counter:__rand_int__)"
echo "list length after lpush/lpop: $(cli llen mylist)"
cli flushall

# Known keys, written through one redis-cli in pipe mode.
perl -e '
	for my $i (0 .. 4999) {
		print "SET key:$i ", "v" . ($i * 7) . ("x" x ($i % 300)), "\n";
		print "HSET hash:", $i % 50, " f$i ", $i * $i, "\n";
		print "RPUSH list:", $i % 20, " e$i\n";
		print "ZADD zset ", ($i * 37) % 5000, " m$i\n";
		print "SADD set:", $i % 10, " s", $i % 777, "\n";
		print "APPEND str:", $i % 30, " <$i>\n";
	}
	print "INCRBY big 123456789\n" for 1 .. 100;
' >cmds.txt
cli --pipe <cmds.txt >replies.txt
grep -E '^errors: ' replies.txt
echo "dbsize: $(cli dbsize)"
cli mget key:0 key:1 key:2 key:4999 | cut -c1-60
for i in 0 17 299 300 4242; do
	v=$(cli get "key:$i")
	want="v$((i * 7))$(printf '%*s' $((i % 300)) '' | tr ' ' x)"
	[ "$v" = "$want" ] && echo "key:$i ok (${#v} bytes)" || echo "key:$i WRONG: ${v:0:40}"
done
cli --no-raw hlen hash:7
cli hget hash:7 f4957
cli lrange list:3 0 4
cli llen list:19
cli zrange zset 0 4 withscores
cli zcard zset
cli scard set:3
cli sort set:3 alpha limit 0 5
cli strlen str:29
cli getrange str:0 0 40
cli get big
# All 5000 keys read back and checked.
perl -e 'print "GET key:$_\n" for 0 .. 4999' | cli >got.txt
perl -e 'print "v", $_ * 7, "x" x ($_ % 300), "\n" for 0 .. 4999' >want.txt
cmp -s got.txt want.txt && echo "5000 keys read back: all equal" || {
	echo "5000 keys read back: DIFFERENT"; diff got.txt want.txt | head -n 5; }
cli shutdown nosave >/dev/null 2>&1 || true
for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "redis-server did not exit within 15 s of SHUTDOWN" >&2; exit 1; fi
st=0
wait "$pid" 2>/dev/null || st=$?
pid=
grep '^numakeg: ' server.out >&2 || true
# A crash while exiting (after the replies above) shows only here.
if [ "$st" != 0 ] || grep -q 'crashed by signal' redis.log; then
	echo "redis-server exited with status $st$( ((st > 128)) && echo " (signal $((st - 128)))"); its log:" >&2
	grep -A 40 'BUG REPORT START' redis.log >&2 || tail -n 30 redis.log >&2
	exit 1
fi
echo "server stopped"
