#!/usr/bin/env bash
# run_compare.sh NAME LIB WORKLOAD [ARGS...]
#
# The shared driver of the preload tests.  It runs the workload script
# WORKLOAD (one of bench/workloads/NAME.sh, which bench/workloads.sh times
# under each allocator) three times, each time in a fresh empty directory:
#   1. plain:   the C library's malloc;
#   2. preload: the program under test gets LD_PRELOAD=LIB (and the pid-log
#               library, NK_PRELOAD_PIDLOG_LIB), with NUMAKEG_STATS=json
#               NUMAKEG_STATS_FILE=<tmp>/stats/stats.%p.json;
#   3. small:   as 2, with NK_WL_DIVISOR=4: the workload does a quarter
#               of the work (bench/workloads/lib.sh's nk_size).
# The workload script sources bench/workloads/lib.sh and starts the program
# under test through nk_target, which adds LD_PRELOAD=$NK_WL_LIB in the
# preload runs only (so data generators and clients such as redis-cli keep
# the C library's malloc).
#
# The test passes when the runs exit 0, the plain and preload standard
# outputs are equal byte for byte, and numakeg served every process of the
# program: each process that started under the preload (the pid log) left a
# statistics dump with allocations > 0 (a process it did not serve, or a
# preload that silently did not take effect, fails).  And the counts follow
# the work: the full run's allocations are at least 1.5 times the small
# run's (four times the work).  stats_json.py reads the dumps.
# A workload that exits 77 (program missing) makes the test skip (77).
#
# Environment: NK_PRELOAD_TIMEOUT (seconds per run, default 150),
#              NK_PRELOAD_KEEP=1 keeps the temporary directory,
#              NUMAKEG_FAKE_DOMAINS, _POLICY, _DEBUG, _DOMAIN_LIMIT pass through
#              to the preloaded programs.
set -u

if [ $# -lt 3 ]; then
	echo "usage: $0 NAME LIB WORKLOAD [ARGS...]" >&2
	exit 2
fi
name=$1 lib=$2 workload=$3
shift 3

if [ ! -f "$lib" ]; then
	echo "FAIL $name: library $lib does not exist"
	exit 1
fi
case $lib in /*) ;; *) lib=$PWD/$lib ;; esac
case $workload in /*) ;; *) workload=$PWD/$workload ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nk-preload-$name.XXXXXX") || exit 1
cleanup() {
	if [ "${NK_PRELOAD_KEEP:-0}" = 1 ]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

limit=${NK_PRELOAD_TIMEOUT:-150}
export LC_ALL=C TZ=UTC
# Other NUMAKEG_* settings (FAKE_DOMAINS, POLICY, DEBUG, DOMAIN_LIMIT) are kept:
# they only act in the preload run, e.g. NUMAKEG_FAKE_DOMAINS=2 ctest -L preload.
unset LD_PRELOAD NUMAKEG_STATS NUMAKEG_STATS_FILE NK_PIDLOG NK_WL_LIB NK_WL_TIMES NK_WL_SCALE NK_WL_DIVISOR
pidlog_lib=${NK_PRELOAD_PIDLOG_LIB:-}
if [ ! -f "$pidlog_lib" ]; then
	echo "FAIL $name: the pid-log library NK_PRELOAD_PIDLOG_LIB='$pidlog_lib' does not exist"
	exit 1
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# run MODE: runs the workload, output in $tmp/MODE.{out,err}, status in $tmp/MODE.rc
run() {
	local mode=$1 rc start
	shift
	mkdir -p "$tmp/$mode"
	start=$SECONDS
	if [ "$mode" != plain ]; then
		local divisor=1
		[ "$mode" != small ] || divisor=4
		mkdir -p "$tmp/stats-$mode"
		(cd "$tmp/$mode" &&
		 NK_WL_LIB="$lib:$pidlog_lib" NK_PIDLOG="$tmp/pids-$mode" \
		 NK_WL_DIVISOR=$divisor NUMAKEG_STATS=json \
		 NUMAKEG_STATS_FILE="$tmp/stats-$mode/stats.%p.json" \
		 exec timeout -k 10 "$limit" bash "$workload" "$@") \
			>"$tmp/$mode.out" 2>"$tmp/$mode.err" </dev/null
		rc=$?
	else
		(cd "$tmp/$mode" && exec timeout -k 10 "$limit" bash "$workload" "$@") \
			>"$tmp/$mode.out" 2>"$tmp/$mode.err" </dev/null
		rc=$?
	fi
	echo "$name: $mode run: exit $rc, $((SECONDS - start)) s, $(wc -c <"$tmp/$mode.out") bytes of output"
	echo "$rc" >"$tmp/$mode.rc"
	return "$rc"
}

show_err() {
	echo "---- $1 stderr (last 40 lines) ----"
	tail -n 40 "$tmp/$1.err"
	echo "---- $1 stdout (last 20 lines) ----"
	tail -n 20 "$tmp/$1.out"
}

run plain "$@"
rc=$?
if [ "$rc" = 77 ]; then
	echo "SKIPPED: $name: $(cat "$tmp/plain.out" "$tmp/plain.err" | grep -m1 SKIPPED || tail -n 1 "$tmp/plain.err")"
	exit 77
fi
if [ "$rc" != 0 ]; then
	echo "FAIL $name: the workload failed WITHOUT the preload (exit $rc): a broken test or environment"
	[ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "(timed out after $limit s)"
	show_err plain
	exit 1
fi

run preload "$@"
rc=$?
fail=0
if [ "$rc" != 0 ]; then
	echo "FAIL $name: the workload failed with LD_PRELOAD=$lib (exit $rc)"
	case $rc in
	124|137) echo "(timed out after $limit s)" ;;
	134) echo "(SIGABRT)" ;;
	139) echo "(SIGSEGV)" ;;
	esac
	show_err preload
	fail=1
fi

if ! cmp -s "$tmp/plain.out" "$tmp/preload.out"; then
	echo "FAIL $name: standard output differs with the preload (diff plain preload, first 60 lines):"
	diff -u "$tmp/plain.out" "$tmp/preload.out" | head -n 60
	fail=1
elif [ "$rc" = 0 ]; then
	echo "$name: outputs identical ($(wc -l <"$tmp/plain.out") lines, sha256 $(sha256sum <"$tmp/plain.out" | cut -c1-16))"
fi

# numakeg writes to stderr only to report trouble (double free, invalid
# pointer, use after free, a failed assertion, a warning): any such line fails.
# A UBSan report (the CI build) fails too.
if grep -q -e '^numakeg: ' -e 'runtime error: ' "$tmp/preload.err"; then
	echo "FAIL $name: numakeg wrote to stderr:"
	grep -e '^numakeg: ' -e 'runtime error: ' "$tmp/preload.err" | head -n 10
	fail=1
fi

# Proof that numakeg served the program: every process of it.
# served MODE: checks the dumps of one preload run; sets allocs_MODE.
served() {
	local mode=$1 report
	if [ ! -s "$tmp/pids-$mode" ]; then
		echo "FAIL $name: $mode run: no process started with the preload (empty pid log)"
		fail=1
		return
	fi
	report=$(python3 "$here/stats_json.py" served "$tmp/stats-$mode" "$tmp/pids-$mode")
	local rc=$?
	if [ "$rc" != 0 ]; then
		echo "FAIL $name: $mode run: numakeg did not serve every process:"
		echo "$report" | tail -n 22
		fail=1
	fi
	local last
	last=$(echo "$report" | tail -n 1)
	echo "$name: $mode run: $last"
	if [[ $last =~ allocations\ ([0-9]+)$ ]]; then
		printf -v "allocs_$mode" '%s' "${BASH_REMATCH[1]}"
	else
		echo "FAIL $name: $mode run: no allocation total in the report"
		fail=1
	fi
}
allocs_preload=0 allocs_small=0
served preload

# The counts follow the work: a quarter of the work, clearly fewer allocations.
run small "$@"
rc=$?
if [ "$rc" != 0 ]; then
	echo "FAIL $name: the workload failed with a quarter of the work (exit $rc)"
	show_err small
	fail=1
fi
if grep -q -e '^numakeg: ' -e 'runtime error: ' "$tmp/small.err"; then
	echo "FAIL $name: numakeg wrote to stderr in the small run:"
	grep -e '^numakeg: ' -e 'runtime error: ' "$tmp/small.err" | head -n 10
	fail=1
fi
served small
if [ "$allocs_small" -gt 0 ] && [ $((allocs_preload * 2)) -lt $((allocs_small * 3)) ]; then
	echo "FAIL $name: $allocs_preload allocations for the whole work, $allocs_small for" \
		"a quarter of it: the counts do not follow the work (want at least 1.5 times)"
	fail=1
elif [ "$allocs_small" -gt 0 ]; then
	echo "$name: allocations grow with the work: $allocs_small for a quarter," \
		"$allocs_preload for all of it"
fi

if [ "$fail" != 0 ]; then
	echo "FAIL $name"
	exit 1
fi
echo "PASS $name"
exit 0
