#!/usr/bin/env bash
# bench/workloads.sh: real programs under glibc, jemalloc, mimalloc, tcmalloc
# and numakeg (LD_PRELOAD), one table: wall time, user+sys CPU time and peak
# RSS per allocator (medians over REPS repetitions), then numakeg's ratios
# against each baseline, per workload and as geometric means.
#
#   bench/workloads.sh              # REPS=5: about 6 minutes on 2 cores
#   REPS=1 bench/workloads.sh       # a quick look (about 1.5 minutes)
#
# Workloads (inputs generated in a temporary directory, deterministic):
#   python  python3 (PYTHONMALLOC=malloc): dicts, lists, strings in 4 threads
#   sqlite  sqlite3 :memory:: 200k single-row INSERTs, indexes, queries
#   perl    word and bigram counts in perl hashes over 50 MiB of text
#   sort    sort -n of 2M lines (LC_ALL=C)
#   redis   redis-server (the only preloaded process) driven by
#           redis-benchmark -n 200000 -P 16 -r 100000 -q -t set,get,lpush,lpop;
#           time: the benchmark's wall time; cpu and RSS: the server's
#           (/proc/PID/stat and VmHWM, read when the benchmark ends)
#   cxx     bench/workloads/alloc_mix.cpp, built with g++ at run time (NOT
#           linked to numakeg): std::map<std::string, std::vector<int>> and
#           more, built in 2 threads and destroyed by the other thread
#
# Method: allocators interleaved within each repetition (glibc, jemalloc,
# mimalloc, tcmalloc, numakeg), one run at a time; every run's stdout is
# hashed and must equal the reference (glibc's first run), else that
# allocator is FAILED for the workload, as is one whose run exits non-zero
# (crash, timeout).  One extra, untimed run per workload under numakeg with
# NUMAKEG_STATS=text checks that numakeg served it (`numakeg: total allocs
# N`, N > 0).  Timed numakeg runs get no NUMAKEG_* setting from this script
# (settings in the caller's environment pass through and are listed).
# glibc is the run without a preload; for a program linked with a malloc
# library (Debian's redis-server links libjemalloc) it is the run with
# LD_PRELOAD=libc.so.6, which binds malloc to glibc's.
#
# Environment:
#   REPS=N          repetitions (default 5)
#   NUMAKEG_LIB     numakeg's library (default build/lib/libnumakeg.so)
#   WORKLOADS       the workloads to run, e.g. "sqlite sort" (default: all)
#   ALLOCATORS      the allocators, e.g. "glibc numakeg" (default: all five)
#   RUN_TIMEOUT     seconds per run before it counts as failed (default 120)
#   PYTHON          the python3 to run (default /usr/bin/python3)
#   KEEP=1          keep the temporary directory (outputs, stats, timings)
#
# Missing jemalloc, mimalloc or tcmalloc libraries are installed with
# apt-get when run as root; otherwise (or when that fails) that allocator is
# reported as n/a with the reason.  A workload whose program is missing is
# reported as SKIPPED.  Exit status: 0, or 1 when a run failed.
# The prep_*/cmd_* functions and the traps are called indirectly.
# shellcheck disable=SC2317
set -u -o pipefail
export LC_ALL=C TZ=UTC
unset LD_PRELOAD NUMAKEG_STATS NUMAKEG_STATS_FILE

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wdir=$here/workloads
root=$(cd "$here/.." && pwd)

REPS=${REPS:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
NUMAKEG_LIB=${NUMAKEG_LIB:-$root/build/lib/libnumakeg.so}
ALL_WORKLOADS="python sqlite perl sort redis cxx"
ALL_ALLOCATORS="glibc jemalloc mimalloc tcmalloc numakeg"
WORKLOADS=${WORKLOADS:-$ALL_WORKLOADS}
ALLOCATORS=${ALLOCATORS:-$ALL_ALLOCATORS}
libdir=/usr/lib/x86_64-linux-gnu

case $REPS in '' | *[!0-9]* | 0)
	echo "REPS must be a positive integer (got '$REPS')" >&2
	exit 2 ;;
esac
for w in $WORKLOADS; do
	case " $ALL_WORKLOADS " in *" $w "*) ;; *)
		echo "unknown workload '$w' (known: $ALL_WORKLOADS)" >&2
		exit 2 ;;
	esac
done
for a in $ALLOCATORS; do
	case " $ALL_ALLOCATORS " in *" $a "*) ;; *)
		echo "unknown allocator '$a' (known: $ALL_ALLOCATORS)" >&2
		exit 2 ;;
	esac
done
case " $ALLOCATORS " in *" numakeg "*) ;; *) ALLOCATORS="$ALLOCATORS numakeg" ;; esac
read -r -a allocs <<<"$ALLOCATORS"
read -r -a workloads <<<"$WORKLOADS"

log() { printf '%s\n' "$*" >&2; }

is_root() { [ "$(id -u)" = 0 ]; }

# apt_install PKG...: as root only; retries once after apt-get update.
apt_install() {
	is_root || return 1
	command -v apt-get >/dev/null 2>&1 || return 1
	log "installing $* (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 && return 0
	DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1
}

# ---------------------------------------------------------------- tools
if [ ! -x /usr/bin/time ]; then
	apt_install time
	if [ ! -x /usr/bin/time ]; then
		echo "/usr/bin/time is missing (Debian package 'time'; run as root to install it)" >&2
		exit 2
	fi
fi
for t in timeout sha256sum perl awk; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "$t is missing" >&2
		exit 2
	fi
done

# ---------------------------------------------------------------- allocators
declare -A LIB NA
# find_lib GLOB...: the first existing file among the globs.
find_lib() {
	local g f
	for g in "$@"; do
		for f in $g; do
			[ -f "$f" ] && { printf '%s\n' "$f"; return 0; }
		done
	done
	return 1
}
# baseline NAME PACKAGE GLOB...: LIB[NAME], installing PACKAGE when missing.
baseline() {
	local name=$1 pkg=$2 f
	shift 2
	if ! f=$(find_lib "$@"); then
		if is_root; then
			apt_install "$pkg"
			if ! f=$(find_lib "$@"); then
				NA[$name]="$1 not found, and apt-get install $pkg did not provide it"
				return
			fi
		else
			NA[$name]="$1 not found (Debian package $pkg; run as root to install it)"
			return
		fi
	fi
	LIB[$name]=$f
}
for a in "${allocs[@]}"; do
	case $a in
	glibc) LIB[glibc]= ;;
	jemalloc) baseline jemalloc libjemalloc2 "$libdir/libjemalloc.so.2" ;;
	mimalloc) baseline mimalloc libmimalloc2.0 "$libdir/libmimalloc.so.2" \
		"$libdir/libmimalloc.so.2.*" "$libdir/libmimalloc.so" ;;
	tcmalloc) baseline tcmalloc libtcmalloc-minimal4 "$libdir/libtcmalloc_minimal.so.4" ;;
	numakeg)
		if [ -f "$NUMAKEG_LIB" ]; then
			LIB[numakeg]=$(cd "$(dirname "$NUMAKEG_LIB")" && pwd)/$(basename "$NUMAKEG_LIB")
		else
			NA[numakeg]="$NUMAKEG_LIB does not exist (build it: cmake -S $root -B $root/build -DCMAKE_BUILD_TYPE=Release && cmake --build $root/build; or set NUMAKEG_LIB)"
		fi ;;
	esac
done
# A preload that ld.so cannot load is ignored with a message and the
# program runs on: check that malloc really binds to each library.
for a in "${allocs[@]}"; do
	[ -n "${LIB[$a]:-}" ] || continue
	# (grep without -q: with pipefail, a writer killed by SIGPIPE fails the test)
	if ! LD_DEBUG=bindings LD_PRELOAD=${LIB[$a]} perl -e 'my @a = (1) x 100' 2>&1 >/dev/null |
		grep -F "to ${LIB[$a]} [0]: normal symbol \`malloc'" >/dev/null; then
		NA[$a]="malloc does not bind to ${LIB[$a]} under LD_PRELOAD"
		unset "LIB[$a]"
	fi
done
available() { [ -z "${NA[$1]:-}" ]; }

pkg_version() { # FILE: "package version" of a library, or nothing
	local p
	p=$(dpkg -S "$1" 2>/dev/null | head -n 1 | cut -d: -f1) || return 0
	[ -n "$p" ] && printf '%s %s' "$p" "$(dpkg-query -W -f '${Version}' "$p" 2>/dev/null)"
}

# ---------------------------------------------------------------- scratch
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nk-workloads.XXXXXX") || exit 2
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/in" "$tmp/run" "$tmp/stats" "$tmp/out"

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
	if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=$(command -v python3 || true); fi
fi

# need WL PROG...: SKIP[WL] with the reason when a program is missing.
declare -A SKIP BIN GLIBC_NOTE
need() {
	local wl=$1 p
	shift
	for p in "$@"; do
		if [ -z "$p" ] || ! command -v "$p" >/dev/null 2>&1; then
			SKIP[$wl]="${p:-python3} is not installed"
			return 1
		fi
	done
}

# ---------------------------------------------------------------- workloads
# Each workload has prep_WL (inputs; sets BIN[WL], the preloaded program)
# and, except redis, cmd_WL, which sets CMD (the command), CMD_IN (stdin)
# and CMD_ENV (extra environment for every allocator).
prep_python() {
	need python "$PYTHON" || return 1
	BIN[python]=$PYTHON
}
cmd_python() {
	CMD=("$PYTHON" "$wdir/pydicts.py") CMD_IN=/dev/null CMD_ENV=(PYTHONMALLOC=malloc)
}

prep_sqlite() {
	need sqlite sqlite3 || return 1
	BIN[sqlite]=$(command -v sqlite3)
	perl "$wdir/gen_sql.pl" 200000 >"$tmp/in/sqlite.sql"
}
cmd_sqlite() {
	CMD=("${BIN[sqlite]}" :memory:) CMD_IN=$tmp/in/sqlite.sql CMD_ENV=()
}

prep_perl() {
	BIN[perl]=$(command -v perl)
	perl "$wdir/gen_text.pl" 50 >"$tmp/in/text.txt"
}
cmd_perl() {
	CMD=("${BIN[perl]}" "$wdir/wordcount.pl" "$tmp/in/text.txt") CMD_IN=/dev/null CMD_ENV=()
}

prep_sort() {
	need sort sort || return 1
	BIN[sort]=$(command -v sort)
	perl "$wdir/gen_numbers.pl" 2000000 >"$tmp/in/numbers.txt"
}
cmd_sort() {
	CMD=("${BIN[sort]}" -n "$tmp/in/numbers.txt") CMD_IN=/dev/null CMD_ENV=()
}

prep_cxx() {
	local cxx=${CXX:-g++}
	need cxx "$cxx" || return 1
	if ! "$cxx" -std=c++17 -O2 -pthread -o "$tmp/in/alloc_mix" "$wdir/alloc_mix.cpp" 2>"$tmp/in/cxx.err"; then
		SKIP[cxx]="$cxx failed to build alloc_mix.cpp: $(head -n 3 "$tmp/in/cxx.err" | tr '\n' ' ')"
		return 1
	fi
	BIN[cxx]=$tmp/in/alloc_mix
}
cmd_cxx() {
	CMD=("${BIN[cxx]}" 2 10 40000) CMD_IN=/dev/null CMD_ENV=()
}

prep_redis() {
	need redis redis-server redis-cli redis-benchmark || return 1
	BIN[redis]=$(command -v redis-server)
	# Known keys, written after the benchmark and read back (inline commands).
	perl -e '
		for my $i (0 .. 19999) {
			printf "SET key:%d v%d%s\r\n", $i, $i * 7, "x" x ($i % 400);
			printf "HSET hash:%d f%d %d\r\n", $i % 100, $i, $i * $i;
			printf "RPUSH list:%d item%d\r\n", $i % 10, $i;
			printf "INCRBY ctr %d\r\n", $i;
		}' >"$tmp/in/redis.cmds"
}

# ---------------------------------------------------------------- one run
# Every run sets: R_RC (0: success), R_WHY (why it failed), R_WALL, R_CPU
# (user + sys), R_SYS (seconds), R_RSS (KiB) and R_OUT (stdout's file).

# envargs ALLOC WL: ENVARGS, the environment of the run's program.
envargs() {
	local a=$1 wl=$2
	ENVARGS=()
	if [ "$a" = glibc ]; then
		[ -n "${GLIBC_PRELOAD[$wl]:-}" ] && ENVARGS+=("LD_PRELOAD=${GLIBC_PRELOAD[$wl]}")
	else
		ENVARGS+=("LD_PRELOAD=${LIB[$a]}")
	fi
}

# status_why RC TIMEFILE: a reason for a non-zero exit status.
status_why() {
	local rc=$1 sig
	sig=$(grep -o 'terminated by signal [0-9]*' "$2" 2>/dev/null | grep -o '[0-9]*$')
	if [ -n "$sig" ]; then
		printf 'killed by signal %s (%s)' "$sig" "$(kill -l "$sig" 2>/dev/null)"
	elif [ "$rc" = 124 ]; then
		printf 'timed out after %s s' "$RUN_TIMEOUT"
	elif [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then
		printf 'killed by signal %s (%s)' "$((rc - 128))" "$(kill -l "$((rc - 128))" 2>/dev/null)"
	else
		printf 'exit status %s' "$rc"
	fi
}

# run_generic WL ALLOC TAG [VAR=VALUE...]: one run of cmd_WL.
run_generic() {
	local wl=$1 a=$2 tag=$3 tf last u s
	shift 3
	local extra=("$@")
	"cmd_$wl"
	envargs "$a" "$wl"
	R_OUT=$tmp/out/$wl.$a.$tag.out
	tf=$tmp/out/$wl.$a.$tag.time
	rm -rf "$tmp/run" && mkdir "$tmp/run"
	(cd "$tmp/run" && exec /usr/bin/time -f '%e %U %S %M' -o "$tf" \
		timeout -k 5 "$RUN_TIMEOUT" env "${CMD_ENV[@]}" "${ENVARGS[@]}" "${extra[@]}" "${CMD[@]}") \
		<"$CMD_IN" >"$R_OUT" 2>"$tmp/out/$wl.$a.$tag.err"
	R_RC=$?
	R_WHY='' R_WALL='' R_CPU='' R_SYS='' R_RSS=''
	if [ "$R_RC" != 0 ]; then
		R_WHY=$(status_why "$R_RC" "$tf")
		return
	fi
	last=$(tail -n 1 "$tf")
	read -r R_WALL u s R_RSS <<<"$last"
	R_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	R_SYS=$s
}

redis_cli() { timeout 30 redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }

# redis_start ALLOC TAG [VAR=VALUE...]: starts the server on a free port
# (server_pid, redis_port); a port already taken makes it try another.
redis_start() {
	local a=$1 tag=$2 attempt i log up st
	shift 2
	envargs "$a" redis
	log=$tmp/run/redis.log
	for attempt in 1 2 3 4 5 6 7 8 9 10; do
		redis_port=$((20000 + (RANDOM * 32768 + RANDOM + attempt) % 40000))
		rm -f "$log"
		# env execs the server: $! is the server's pid.
		env "${ENVARGS[@]}" "$@" "${BIN[redis]}" --bind 127.0.0.1 --port "$redis_port" \
			--protected-mode yes --save '' --appendonly no --daemonize no \
			--dir "$tmp/run" --logfile "$log" \
			>"$tmp/out/redis.$a.$tag.err" 2>&1 </dev/null &
		server_pid=$!
		up=0
		for i in $(seq 200); do
			kill -0 "$server_pid" 2>/dev/null || break
			if [ "$(redis_cli ping 2>/dev/null)" = PONG ]; then
				up=1
				# Ours, not another server that listens there.
				redis_cli info server 2>/dev/null | tr -d '\r' | grep -x "process_id:$server_pid" >/dev/null && return 0
				break
			fi
			sleep 0.05
		done
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		st=$?
		server_pid=
		if [ "$i" = 200 ]; then
			R_WHY="the server did not answer PING within 10 s"
			return 1
		elif [ "$up" = 0 ] && ! grep -q 'Address already in use' "$log" 2>/dev/null; then
			R_WHY="the server exited at its start ($(status_why "$st" /dev/null)): $(cat "$log" "$tmp/out/redis.$a.$tag.err" 2>/dev/null | grep -v '^ *$' | tail -n 1)"
			return 1
		fi
	done
	R_WHY="no free port found in 10 tries"
	return 1
}

# run_redis ALLOC TAG [VAR=VALUE...]: one server, one benchmark.
run_redis() {
	local a=$1 tag=$2 tf st ticks sticks hwm stat f hz
	shift 2
	R_OUT=$tmp/out/redis.$a.$tag.out
	tf=$tmp/out/redis.$a.$tag.time
	R_RC=1 R_WHY='' R_WALL='' R_CPU='' R_SYS='' R_RSS=''
	: >"$R_OUT"
	rm -rf "$tmp/run" && mkdir "$tmp/run"
	redis_start "$a" "$tag" "$@" || return
	/usr/bin/time -f '%e %U %S %M' -o "$tf" timeout -k 5 "$RUN_TIMEOUT" \
		redis-benchmark -h 127.0.0.1 -p "$redis_port" -n 200000 -P 16 -r 100000 -q \
		-t set,get,lpush,lpop >"$tmp/run/bench.txt" 2>&1
	st=$?
	if ! kill -0 "$server_pid" 2>/dev/null; then
		wait "$server_pid"
		st=$?
		server_pid=
		R_WHY="the server died during the benchmark ($(status_why "$st" /dev/null))"
		return
	fi
	# The server's CPU time and peak RSS, now.
	# utime and stime: fields 14 and 15, the 12th and 13th after "(comm) ".
	stat=$(<"/proc/$server_pid/stat")
	read -r -a f <<<"${stat##*) }"
	ticks=$((f[11] + f[12])) sticks=${f[12]}
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
	if [ "$st" != 0 ]; then
		R_WHY="redis-benchmark failed ($(status_why "$st" "$tf")): $(tr '\r' '\n' <"$tmp/run/bench.txt" | grep -v '^ *$' | tail -n 1)"
	fi
	# What the output check sees: the tests that ran, then known keys.
	{
		tr '\r' '\n' <"$tmp/run/bench.txt" | grep -o '^[A-Z]*: [0-9.]* requests per second' | cut -d: -f1
		echo "llen mylist: $(redis_cli llen mylist)"
		redis_cli flushall
		redis_cli --pipe <"$tmp/in/redis.cmds" | tail -n 1
		echo "dbsize: $(redis_cli dbsize)"
		redis_cli --raw mget key:0 key:1 key:399 key:12345 key:19999 | sha256sum | cut -c1-16
		redis_cli --raw hmget hash:7 f7 f107 f19907 f8
		echo "hlen: $(redis_cli hlen hash:99) llen: $(redis_cli llen list:3)"
		redis_cli --raw lrange list:3 0 4
		redis_cli --raw lrange list:3 -3 -1
		echo "ctr: $(redis_cli get ctr)"
	} >"$R_OUT" 2>>"$tmp/out/redis.$a.$tag.err"
	redis_cli shutdown nosave >/dev/null 2>&1
	for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$server_pid" 2>/dev/null
	wait "$server_pid"
	st=$?
	server_pid=
	if [ -n "$R_WHY" ]; then
		return
	elif [ "$st" != 0 ]; then
		R_WHY="the server exited with $(status_why "$st" /dev/null) at its shutdown"
		return
	fi
	R_RC=0
	R_WALL=$(tail -n 1 "$tf" | awk '{ print $1 }')
	hz=$(getconf CLK_TCK)
	R_CPU=$(awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
	R_SYS=$(awk -v t="$sticks" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
	R_RSS=$hwm
}

run_one() { # WL ALLOC TAG [VAR=VALUE...]
	local wl=$1
	if [ "$wl" = redis ]; then
		shift
		run_redis "$@"
	else
		run_generic "$@"
	fi
}

# ---------------------------------------------------------------- helpers
median() { # VALUES...: their median
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) printf "%.4f\n", v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
spread() { # VALUES...: (max - min) / median, in percent
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      if (m > 0) printf "%.0f%%\n", 100 * (v[NR] - v[1]) / m; else print "-" }'
}
hash_of() { sha256sum <"$1" | cut -c1-16; }
geomean() { # "VALUES": their geometric mean
	awk -v v="$1" 'BEGIN { n = split(v, x, " "); for (i = 1; i <= n; i++) s += log(x[i]); printf "%.2f", exp(s / n) }'
}

# ---------------------------------------------------------------- header
start=$SECONDS
load0=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'numakeg workloads benchmark: %s, %s cpus, kernel %s, load %s\n' \
	"$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$(uname -r)" "$load0"
if awk -v l="${load0%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	echo "  warning: the machine is busy (load ${load0%% *} on $(nproc) cpus): wall times will be noisy"
fi
printf 'REPS=%s, medians; allocators interleaved in each repetition; one run at a time\n' "$REPS"
for a in "${allocs[@]}"; do
	if [ "$a" = glibc ]; then
		printf '  %-9s no preload (libc6 %s)\n' "$a" "$(dpkg-query -W -f '${Version}' libc6 2>/dev/null || echo '?')"
	elif available "$a"; then
		v=$(pkg_version "${LIB[$a]}")
		if [ "$a" = numakeg ]; then
			NUMAKEG_STATS=text NUMAKEG_STATS_FILE=$tmp/probe.txt LD_PRELOAD=${LIB[numakeg]} /bin/true
			v=$(head -n 1 "$tmp/probe.txt" 2>/dev/null | sed 's/: pid [0-9]*,/,/')
			case ${LIB[numakeg]} in "$root"/*)
				g=$(git -C "$root" describe --always --dirty 2>/dev/null) && v+=", tree $g" ;;
			esac
		fi
		printf '  %-9s %s%s\n' "$a" "${LIB[$a]}" "${v:+ ($v)}"
	else
		printf '  %-9s n/a: %s\n' "$a" "${NA[$a]}"
	fi
done
nkenv=$(env | grep '^NUMAKEG_' | grep -v '^NUMAKEG_LIB=' | tr '\n' ' ')
printf '  numakeg environment: %s\n' "${nkenv:-(none: defaults)}"
printf '  python: %s\n' "${PYTHON:-(none)}"

# ---------------------------------------------------------------- the runs
declare -A GLIBC_PRELOAD WALL CPU SYS RSS FAIL VERIFY
failed=0
for wl in "${workloads[@]}"; do
	log "== $wl: preparing"
	if ! "prep_$wl"; then
		log "== $wl: SKIPPED: ${SKIP[$wl]}"
		continue
	fi
	# glibc for a program linked with a malloc library: preload libc.so.6.
	linked=$(ldd "${BIN[$wl]}" 2>/dev/null | grep -oE 'lib(jemalloc|tcmalloc[a-z_]*|mimalloc|numakeg)[^ ]*' | head -n 1)
	if [ -n "$linked" ]; then
		libc=$(ldd "${BIN[$wl]}" | awk '$1 == "libc.so.6" { print $3 }')
		GLIBC_PRELOAD[$wl]=$libc
		GLIBC_NOTE[$wl]="$(basename "${BIN[$wl]}") links $linked: glibc run preloads $libc"
	fi
	ref='' refwho=''
	# The untimed numakeg run, with stats: did numakeg serve the program?
	if available numakeg; then
		rm -f "$tmp"/stats/*
		run_one "$wl" numakeg verify NUMAKEG_STATS=text "NUMAKEG_STATS_FILE=$tmp/stats/$wl.%p"
		vhash=
		if [ "$R_RC" != 0 ]; then
			FAIL[$wl,numakeg]="verification run: $R_WHY"
		else
			vhash=$(hash_of "$R_OUT")
			best=0
			for f in "$tmp"/stats/"$wl".*; do
				[ -e "$f" ] || continue
				n=$(sed -n 's/^numakeg: total allocs \([0-9]*\) frees [0-9]*$/\1/p' "$f" | tail -n 1)
				[ -n "$n" ] && [ "$n" -gt "$best" ] && { best=$n; cp "$f" "$tmp/out/$wl.numakeg.stats"; }
			done
			if [ "$best" -gt 0 ]; then
				VERIFY[$wl]=$(awk -v n="$best" '/^pages domain/ { for (i = 1; i < NF; i++) if ($i == "purged") p += $(i + 1) }
					END { printf "served: %d allocs; purged %.0f MiB", n, p / 1048576 }' "$tmp/out/$wl.numakeg.stats")
			else
				FAIL[$wl,numakeg]="verification run: no stats file with 'numakeg: total allocs N', N > 0 (preload not in effect)"
			fi
		fi
		log "== $wl: verification: ${VERIFY[$wl]:-${FAIL[$wl,numakeg]}}"
	fi
	for rep in $(seq "$REPS"); do
		line="== $wl: rep $rep/$REPS:"
		for a in "${allocs[@]}"; do
			available "$a" || continue
			[ -n "${FAIL[$wl,$a]:-}" ] && continue
			run_one "$wl" "$a" "r$rep"
			if [ "$R_RC" != 0 ]; then
				err=$(grep -v '^ *$' "$tmp/out/$wl.$a.r$rep.err" 2>/dev/null | tail -n 2 | tr '\n' ' ' | cut -c1-160)
				FAIL[$wl,$a]="rep $rep: $R_WHY${err:+ (stderr: $err)}"
				line+=" $a FAILED"
				continue
			fi
			h=$(hash_of "$R_OUT")
			if [ -z "$ref" ]; then
				ref=$h refwho="$a rep $rep"
			elif [ "$h" != "$ref" ]; then
				FAIL[$wl,$a]="rep $rep: output differs from $refwho's (sha256 $h, not $ref)"
				line+=" $a FAILED"
				continue
			fi
			WALL[$wl,$a]+="$R_WALL " CPU[$wl,$a]+="$R_CPU " SYS[$wl,$a]+="$R_SYS " RSS[$wl,$a]+="$R_RSS "
			line+=" $a ${R_WALL}s"
		done
		log "$line"
	done
	if [ -n "${vhash:-}" ] && [ -n "$ref" ] && [ "$vhash" != "$ref" ] && [ -z "${FAIL[$wl,numakeg]:-}" ]; then
		FAIL[$wl,numakeg]="verification run: output differs from $refwho's (sha256 $vhash, not $ref)"
	fi
	vhash=
done

# ---------------------------------------------------------------- the table
echo
fmt='%-8s %-9s %8s %8s %8s %9s %7s  %s\n'
# shellcheck disable=SC2059
printf "$fmt" workload allocator 'wall s' 'cpu s' 'sys s' 'rss MiB' spread note
declare -A MW MC MR
for wl in "${workloads[@]}"; do
	if [ -n "${SKIP[$wl]:-}" ]; then
		# shellcheck disable=SC2059
		printf "$fmt" "$wl" - - - - - - "SKIPPED: ${SKIP[$wl]}"
		continue
	fi
	for a in "${allocs[@]}"; do
		if ! available "$a"; then
			# shellcheck disable=SC2059
			printf "$fmt" "$wl" "$a" n/a n/a n/a n/a - "${NA[$a]}"
			continue
		fi
		if [ -n "${FAIL[$wl,$a]:-}" ]; then
			failed=1
			# shellcheck disable=SC2059
			printf "$fmt" "$wl" "$a" - - - - - "FAILED: ${FAIL[$wl,$a]}"
			continue
		fi
		read -r -a ws <<<"${WALL[$wl,$a]}"
		read -r -a cs <<<"${CPU[$wl,$a]}"
		read -r -a ss <<<"${SYS[$wl,$a]}"
		read -r -a rs <<<"${RSS[$wl,$a]}"
		MW[$wl,$a]=$(median "${ws[@]}")
		MC[$wl,$a]=$(median "${cs[@]}")
		MR[$wl,$a]=$(awk -v k="$(median "${rs[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')
		note=
		[ "$a" = glibc ] && note=${GLIBC_NOTE[$wl]:-}
		[ "$a" = numakeg ] && note=${VERIFY[$wl]:-}
		# shellcheck disable=SC2059
		printf "$fmt" "$wl" "$a" "$(printf %.2f "${MW[$wl,$a]}")" "$(printf %.2f "${MC[$wl,$a]}")" \
			"$(printf %.2f "$(median "${ss[@]}")")" "${MR[$wl,$a]}" "$(spread "${ws[@]}")" "$note"
	done
done
echo '(medians; redis: wall is the benchmark'"'"'s, cpu/sys/rss the server'"'"'s; spread: (max-min)/median of wall;'
echo ' numakeg note: from the untimed stats run: allocations served, bytes its page layer gave back with madvise)'

# ---------------------------------------------------------------- ratios
echo
declare -A LT LR LC NG
for wl in "${workloads[@]}"; do
	[ -n "${SKIP[$wl]:-}" ] && continue
	for b in "${allocs[@]}"; do
		[ "$b" = numakeg ] && continue
		label="ratio numakeg/$b:"
		if ! available numakeg || ! available "$b"; then
			printf '%-8s %-24s n/a (%s)\n' "$wl" "$label" "$(available numakeg && echo "$b" || echo numakeg) not available"
			continue
		fi
		if [ -n "${FAIL[$wl,numakeg]:-}" ] || [ -n "${FAIL[$wl,$b]:-}" ]; then
			who=
			[ -n "${FAIL[$wl,numakeg]:-}" ] && who=numakeg
			[ -n "${FAIL[$wl,$b]:-}" ] && who="${who:+$who and }$b"
			printf '%-8s %-24s n/a (%s FAILED)\n' "$wl" "$label" "$who"
			continue
		fi
		read -r t r c <<<"$(awk -v nw="${MW[$wl,numakeg]}" -v bw="${MW[$wl,$b]}" \
			-v nr="${MR[$wl,numakeg]}" -v br="${MR[$wl,$b]}" \
			-v nc="${MC[$wl,numakeg]}" -v bc="${MC[$wl,$b]}" \
			'function q(x, y) { return y > 0 ? x / y : 1 }
			 BEGIN { printf "%.4f %.4f %.4f\n", q(nw, bw), q(nr, br), q(nc, bc) }')"
		printf '%-8s %-24s time %.2f, rss %.2f (cpu %.2f)\n' "$wl" "$label" "$t" "$r" "$c"
		LT[$b]+="$t " LR[$b]+="$r " LC[$b]+="$c "
		NG[$b]=$((${NG[$b]:-0} + 1))
	done
done
echo
for b in "${allocs[@]}"; do
	[ "$b" = numakeg ] && continue
	label="geomean numakeg/$b:"
	if [ -z "${NG[$b]:-}" ]; then
		printf '%-33s n/a (no workload with both)\n' "$label"
		continue
	fi
	printf '%-33s time %s, rss %s (cpu %s) over %d workload(s)\n' "$label" \
		"$(geomean "${LT[$b]}")" \
		"$(geomean "${LR[$b]}")" \
		"$(geomean "${LC[$b]}")" \
		"${NG[$b]}"
done
echo "(below 1: numakeg faster or smaller; time: wall-clock)"
printf 'total %d s; load at the start %s, at the end %s\n' "$((SECONDS - start))" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)"
exit "$failed"
