#!/usr/bin/env bash
# bench/mimalloc-bench.sh: programs of the public mimalloc-bench suite
# (github daanx/mimalloc-bench) under glibc, jemalloc, mimalloc, tcmalloc and
# numakeg, in one interleaved run, with bench/alloc_compare.sh's table (time,
# cpu, sys, minor faults, peak RSS, numakeg's ratios).
#
#   bench/mimalloc-bench.sh PATH        # PATH: a checkout of mimalloc-bench
#   REPS=3 bench/mimalloc-bench.sh /work/scratch/mimalloc-bench
#
# The checkout stays outside this repository and is never committed; this
# script only reads its bench/ sources.  It does NOT run the suite's
# build-bench-env.sh (which downloads allocators and large programs): it
# compiles the C/C++ programs below with plain cc/c++ commands, with the
# flags of the suite's bench/CMakeLists.txt for a Release build (-O3
# -DNDEBUG, C++17, warnings off, its per-program definitions; cache-thrash
# and cache-scratch at -O0, see below), into
# BUILD_DIR (default: a directory under ${TMPDIR:-/tmp}, removed at the end
# unless KEEP=1).  A program that does not build is listed as NOT RUN with
# the compiler's first error; the others still run.
#
# The tests and their arguments are those of the suite's bench.sh with
# procs=PROCS (default 2, this machine's cores):
#   malloc-large     ./malloc-large                    (20 live blocks of 5-25 MiB)
#   mstressN         ./mstress PROCS 50 25
#   glibc-simple     ./glibc-simple
#   glibc-thread     ./glibc-thread PROCS              time: 1e9 / iterations (bench.sh's)
#   larsonN          ./larson 5 8 1000 5000 100 4141 PROCS   time: its "relative time"
#   xmalloc-testN    ./xmalloc-test -w PROCS -t 5 -s 64      time: its "rtime"
#   cache-thrash1    ./cache-thrash 1 1000 1 2000000 PROCS
#   cache-thrashN    ./cache-thrash PROCS 1000 1 2000000 PROCS
#   cache-scratch1   ./cache-scratch 1 1000 1 2000000 PROCS
#   cache-scratchN   ./cache-scratch PROCS 1000 1 2000000 PROCS
#   alloc-test1      ./alloc-test 1
#   alloc-testN      ./alloc-test PROCS
# larson, xmalloc-test and glibc-thread run for a fixed time and report
# their throughput: their "time" column is the relative time bench.sh
# derives from it (lower is better), not the wall time.  Outputs hold
# timings, so only the exit status is checked.
#
# Environment: PROCS (default 2), TESTS (a subset of the names above,
# e.g. "malloc-large mstressN"), BUILD_DIR, KEEP=1, CC (default cc),
# CXX (default c++); EXTRA_SPEC, a spec file of bench/alloc_compare.sh's
# whose workloads join the same interleaved run (bench/small_blocks.sh's);
# REPS, ALLOCATORS, NUMAKEG_LIB, RUN_TIMEOUT as for
# bench/alloc_compare.sh.  Exit status: alloc_compare.sh's, or 2 on bad
# usage.
set -u -o pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '%s\n' "$*" >&2; }

if [ $# != 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	log "usage: $0 PATH-TO-mimalloc-bench-CHECKOUT  (see the comment at the top of $0)"
	exit 2
fi
src=$(cd "$1" 2>/dev/null && pwd)/bench
if [ ! -f "$src/CMakeLists.txt" ] || [ ! -d "$src/malloc-large" ]; then
	log "$1 is not a checkout of mimalloc-bench (no bench/CMakeLists.txt and bench/malloc-large/ in it)"
	exit 2
fi
PROCS=${PROCS:-2}
case $PROCS in '' | *[!0-9]* | 0)
	log "PROCS must be a positive integer (got '$PROCS')"
	exit 2 ;;
esac
if [ -n "${EXTRA_SPEC:-}" ] && [ ! -f "$EXTRA_SPEC" ]; then
	log "EXTRA_SPEC=$EXTRA_SPEC: no such file"
	exit 2
fi
CC=${CC:-cc}
CXX=${CXX:-c++}
for t in "$CC" "$CXX"; do
	command -v "$t" >/dev/null 2>&1 || { log "$t is missing (Debian: gcc, g++)"; exit 2; }
done

if [ -n "${BUILD_DIR:-}" ]; then
	mkdir -p "$BUILD_DIR" || exit 2
	bdir=$(cd "$BUILD_DIR" && pwd)
else
	bdir=$(mktemp -d "${TMPDIR:-/tmp}/nk-mimalloc-bench.XXXXXX") || exit 2
	if [ "${KEEP:-0}" != 1 ]; then
		trap 'rm -rf "$bdir"' EXIT
	fi
fi

# The suite's bench/CMakeLists.txt, Release: -O3 -DNDEBUG, C++17, -w.
opt=-O3
cflags=(-DNDEBUG -w -pthread)
cxxflags=(-std=c++17 -DNDEBUG -w -pthread)
# cache-thrash and cache-scratch (false sharing: each thread writes its own
# 1-byte block 2 million times between a new[] and a delete[]) at -O0: at
# -O2 and -O3 GCC 12 drops the new[]/delete[] pair and the writes (the
# block never escapes), so that the threads only count on their stacks and
# the figures say nothing about the allocator (2026-12-01, objdump of the
# workers: no call and no store to the heap).  At -O0 every write reaches
# the block.
opt_of() { case $1 in cache-thrash | cache-scratch) echo -O0 ;; *) echo "$opt" ;; esac; }
declare -A BUILT_ERR
# build PROG LANG [FLAGS/SOURCES...]: BUILT_ERR[PROG] when it fails.
build() {
	local prog=$1 lang=$2 rc o
	shift 2
	o=$(opt_of "$prog")
	log "building $prog ($o)"
	if [ "$lang" = c ]; then
		(cd "$src" && "$CC" "$o" "${cflags[@]}" -o "$bdir/$prog" "$@" -lm) 2>"$bdir/$prog.log"
	else
		(cd "$src" && "$CXX" "$o" "${cxxflags[@]}" -o "$bdir/$prog" "$@") 2>"$bdir/$prog.log"
	fi
	rc=$?
	if [ $rc != 0 ] || [ ! -x "$bdir/$prog" ]; then
		BUILT_ERR[$prog]="does not build: $(grep -m 1 -i 'error' "$bdir/$prog.log" | cut -c1-150)"
		[ -n "${BUILT_ERR[$prog]#does not build: }" ] || BUILT_ERR[$prog]="does not build (exit status $rc)"
	fi
}

ALL_TESTS="malloc-large mstressN glibc-simple glibc-thread larsonN xmalloc-testN cache-thrash1 cache-thrashN cache-scratch1 cache-scratchN alloc-test1 alloc-testN"
TESTS=${TESTS:-$ALL_TESTS}
for t in $TESTS; do
	case " $ALL_TESTS " in *" $t "*) ;; *)
		log "unknown test '$t' (known: $ALL_TESTS)"
		exit 2 ;;
	esac
done
want() { case " $TESTS " in *" $1"*) return 0 ;; esac; return 1; }

want malloc-large && build malloc-large cxx malloc-large/malloc-large.cpp
want mstress && build mstress c mstress/mstress.c
want glibc-simple && build glibc-simple c glibc-bench/bench-malloc-simple.c
want glibc-thread && build glibc-thread c glibc-bench/bench-malloc-thread.c
want larson && build larson cxx -DCPP=1 larson/larson.cpp
want xmalloc-test && build xmalloc-test c xmalloc-test/xmalloc-test.c
want cache-thrash && build cache-thrash cxx cache-thrash/cache-thrash.cpp
want cache-scratch && build cache-scratch cxx cache-scratch/cache-scratch.cpp
want alloc-test && build alloc-test cxx -DBENCH=4 alloc-test/test_common.cpp alloc-test/allocator_tester.cpp

commit=$(git -C "$src/.." rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')
spec=$bdir/spec.sh
{
	printf 'SPEC_TITLE=%q\n' "mimalloc-bench (${src%/bench}, commit $commit), procs=$PROCS, built in $bdir"
	# The scores of bench.sh for the programs that run for a fixed time.
	cat <<'EOF'
score_larson() { sed -n 's/.*relative time: \([0-9.]*\)s.*/\1/p' "$1" | tail -n 1 | grep .; }
score_xmalloc() { sed -n 's/^rtime: \([0-9.]*\).*/\1/p' "$1" | tail -n 1 | grep .; }
score_glibc_thread() {
	awk '/^[0-9]+ iterations/ { n = $1 } END { if (n > 0) printf "%.3f\n", 1e9 / n; else exit 1 }' "$1"
}
EOF
	# entry TEST PROG [SCORE] -- ARGS...: a workload line, or unavailable.
	entry() {
		local name=$1 prog=$2 score=
		shift 2
		[ "$1" != -- ] && { score=$1; shift; }
		shift
		want "$name" || return 0
		if [ -n "${BUILT_ERR[$prog]:-}" ]; then
			printf 'unavailable %q %q\n' "$name" "$prog ${BUILT_ERR[$prog]}"
		else
			printf 'workload %q status %s -- %q' "$name" "$score" "$bdir/$prog"
			[ $# -gt 0 ] && printf ' %q' "$@"
			printf '\n'
		fi
	}
	entry malloc-large malloc-large --
	entry mstressN mstress -- "$PROCS" 50 25
	entry glibc-simple glibc-simple --
	entry glibc-thread glibc-thread score_glibc_thread -- "$PROCS"
	entry larsonN larson score_larson -- 5 8 1000 5000 100 4141 "$PROCS"
	entry xmalloc-testN xmalloc-test score_xmalloc -- -w "$PROCS" -t 5 -s 64
	entry cache-thrash1 cache-thrash -- 1 1000 1 2000000 "$PROCS"
	entry cache-thrashN cache-thrash -- "$PROCS" 1000 1 2000000 "$PROCS"
	entry cache-scratch1 cache-scratch -- 1 1000 1 2000000 "$PROCS"
	entry cache-scratchN cache-scratch -- "$PROCS" 1000 1 2000000 "$PROCS"
	entry alloc-test1 alloc-test -- 1
	entry alloc-testN alloc-test -- "$PROCS"
	if [ -n "${EXTRA_SPEC:-}" ]; then
		printf '. %q\n' "$(cd "$(dirname "$EXTRA_SPEC")" && pwd)/$(basename "$EXTRA_SPEC")"
	fi
} >"$spec"

"$here/alloc_compare.sh" "$spec"
