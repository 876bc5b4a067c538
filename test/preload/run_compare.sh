#!/usr/bin/env bash
# run_compare.sh NAME LIB WORKLOAD [ARGS...]
#
# The shared driver of the preload tests.  It runs the workload script
# WORKLOAD twice, each time in a fresh empty directory:
#   1. plain:   the C library's malloc;
#   2. preload: the program under test gets LD_PRELOAD=LIB, with
#               NUMAKEG_STATS=text NUMAKEG_STATS_FILE=<tmp>/stats/stats.%p.
# The workload script sources common.sh and starts the program under test
# through nk_target, which adds LD_PRELOAD in the second run only (so data
# generators and clients such as redis-cli keep the C library's malloc).
#
# The test passes when both runs exit 0, their standard outputs are equal
# byte for byte, and at least one stats file ends in
# `numakeg: total allocs A frees F` with A > 0 (proof that numakeg served the
# program: a preload that silently did not take effect fails).
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
unset LD_PRELOAD NUMAKEG_STATS NUMAKEG_STATS_FILE
export NK_PRELOAD_DIR
NK_PRELOAD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# run MODE: runs the workload, output in $tmp/MODE.{out,err}, status in $tmp/MODE.rc
run() {
	local mode=$1 rc start
	shift
	mkdir -p "$tmp/$mode"
	start=$SECONDS
	if [ "$mode" = preload ]; then
		mkdir -p "$tmp/stats"
		(cd "$tmp/$mode" &&
		 NK_PRELOAD_LIB=$lib NUMAKEG_STATS=text \
		 NUMAKEG_STATS_FILE="$tmp/stats/stats.%p" \
		 exec timeout -k 10 "$limit" bash "$workload" "$@") \
			>"$tmp/$mode.out" 2>"$tmp/$mode.err" </dev/null
		rc=$?
	else
		(cd "$tmp/$mode" && NK_PRELOAD_LIB= exec timeout -k 10 "$limit" bash "$workload" "$@") \
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
	echo "SKIPPED $name: $(grep -m1 SKIPPED "$tmp/plain.err" || tail -n 1 "$tmp/plain.err")"
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

# Proof that numakeg served the program.
nfiles=0 nserved=0 nbad=0 best=0 bestfile=
for f in "$tmp"/stats/stats.*; do
	[ -e "$f" ] || continue
	nfiles=$((nfiles + 1))
	last=$(tail -n 1 "$f")
	if [[ $last =~ ^numakeg:\ total\ allocs\ ([0-9]+)\ frees\ ([0-9]+)$ ]]; then
		a=${BASH_REMATCH[1]}
		if [[ $a =~ [1-9] ]]; then
			nserved=$((nserved + 1))
			if [ "${#a}" -gt "${#best}" ] || { [ "${#a}" = "${#best}" ] && [[ $a > $best ]]; }; then
				best=$a bestfile=$f
			fi
		fi
	else
		nbad=$((nbad + 1))
		echo "warning $name: ${f##*/}: the last line is not 'numakeg: total allocs A frees F': '$last'"
	fi
done
if [ "$nfiles" = 0 ]; then
	echo "FAIL $name: no stats file was written: the preload did not take effect" \
		"(NUMAKEG_STATS=text NUMAKEG_STATS_FILE=$tmp/stats/stats.%p)"
	fail=1
elif [ "$nserved" = 0 ]; then
	echo "FAIL $name: $nfiles stats file(s), none with allocs > 0: numakeg served nothing"
	for f in "$tmp"/stats/stats.*; do echo "== ${f##*/}"; tail -n 5 "$f"; done | head -n 40
	fail=1
else
	echo "$name: numakeg served $nserved of $nfiles process(es) ($nbad malformed);" \
		"largest: $(tail -n 1 "$bestfile")"
	[ "$nbad" = 0 ] || fail=1
fi

if [ "$fail" != 0 ]; then
	echo "FAIL $name"
	exit 1
fi
echo "PASS $name"
exit 0
