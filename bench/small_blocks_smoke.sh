#!/usr/bin/env bash
# bench/small_blocks_smoke.sh LIB BENCH_BIN: the ctest smoke test of
# bench/small_blocks.sh.  Runs it once with tiny parameters (QUICK=1,
# REPS=1) under glibc and numakeg (LIB) only, without mimalloc-bench, and
# checks that it exits 0 and that its summary has a number > 0 for glibc
# and for numakeg on every figure of thread_memory, locality, batch and (when
# python3 is installed) pyobjects.py: the programs ran under numakeg, their
# output parsed, and the runner's table holds them.  The figures mean
# nothing at these sizes.  Exit 77 (skipped) when a tool that
# bench/alloc_compare.sh needs is missing.
set -u -o pipefail
[ $# = 2 ] || { echo "usage: $0 LIB BENCH_BIN" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for t in /usr/bin/time timeout sha256sum perl awk; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "SKIPPED: $t is missing (bench/alloc_compare.sh needs it)"
		exit 77
	fi
done
parts="threads locality batch"
rows=10 # idle RSS at 2 thread counts, 4 locality, 2 batch sizes x FIFO/LIFO
if [ -x /usr/bin/python3 ]; then
	parts+=" python"
	rows=11
fi
out=$(mktemp "${TMPDIR:-/tmp}/nk-small-smoke.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
QUICK=1 REPS=1 THREADS="1 3" BATCHES="10 1000" PARTS=$parts ALLOCATORS="glibc numakeg" \
	NUMAKEG_LIB=$1 BENCH_BIN=$2 "$here/small_blocks.sh" >"$out" 2>&1
rc=$?
if [ $rc != 0 ]; then
	cat "$out"
	echo "FAIL: bench/small_blocks.sh exited with status $rc"
	exit 1
fi
# The summary's columns: label 1-38, unit 40-47, glibc 49-57, jemalloc,
# mimalloc, tcmalloc, numakeg 89-97 (small_blocks.sh's printf).
awk -v want="$rows" '
	function num(x) { gsub(/ /, "", x); return x ~ /^[0-9]+(\.[0-9]+)?$/ && x + 0 > 0 }
	/^== small blocks/ { s = 1; next }
	s && /^(1|3) threads idle: RSS  |^locality: |^batch (10|1000), |^python3 pyobjects\.py  / {
		n++
		if (!num(substr($0, 49, 9)) || !num(substr($0, 89, 9))) { print "FAIL: no figure in: " $0; bad = 1 }
	}
	/^targets of issue 10 in this run: / { t = 1 }
	END {
		if (n != want) { print "FAIL: " n " figure rows in the summary, expected " want; bad = 1 }
		if (!t) { print "FAIL: no targets line"; bad = 1 }
		exit bad
	}' "$out" || { cat "$out"; exit 1; }
echo "small_blocks.sh: $rows figures for glibc and numakeg"
