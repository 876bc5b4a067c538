#!/usr/bin/env bash
# bench/stats_cost.sh: what numakeg's statistics cost (issue 11, "counting
# stays off the fast path").  Runs the same microbenchmarks of
# bench/nk_bench.c in nk_bench (numakeg as built: statistics compiled in)
# and nk_bench_nostats (numakeg built with NK_STATS 0: the counts only the
# statistics read, and the dumps, compiled out), the two binaries
# interleaved REPS times, each run in a process of its own, and prints the
# medians of the CPU ns per operation (one malloc + one free, one thread):
#
#   workload  with stats  without  ratio (with / without; > 1: the counting costs)
#
# Workloads (nk_bench's names): pair64/nk (a warm 64-byte malloc/free pair),
# pair64/nk_zone (the same on a 64-byte zone, nk_zalloc/nk_zfree) and
# churn36K/nk (a 36 KiB block: the smallest large block, a hit in the
# thread's run cache, where large.c counts blocks).
#
#   bench/stats_cost.sh [--check] [NK_BENCH NK_BENCH_NOSTATS]
#   REPS=5 bench/stats_cost.sh                   # about 30 s on 2 busy cores
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench -j2 &&
#     bench/stats_cost.sh build-bench/bench/nk_bench build-bench/bench/nk_bench_nostats
#
# The binaries default to build/bench/ (a Release build).  Environment:
# REPS (default 5), MIN_TIME (seconds a run measures each workload, default
# 0.3), WORKLOADS (nk_bench names, default the three above).  --check (the
# ctest bench_stats_cost, with REPS=1 MIN_TIME=0.01): exit 1 unless every
# workload's row has a number > 0 in both columns and a ratio.  The load
# average is printed before and after: on a busy machine, compare ratios of
# runs taken at a similar load.  Exit 77 (skipped) when a binary is missing.
set -u -o pipefail
check=0
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
with=${1:-$here/../build/bench/nk_bench}
without=${2:-$here/../build/bench/nk_bench_nostats}
reps=${REPS:-5}
min_time=${MIN_TIME:-0.3}
workloads=${WORKLOADS:-pair64/nk pair64/nk_zone churn36K/nk}
for b in "$with" "$without"; do
	if [ ! -x "$b" ]; then
		echo "SKIPPED: $b is not built (bench/CMakeLists.txt: needs Google Benchmark)"
		exit 77
	fi
done
case $reps in '' | *[!0-9]* | 0) echo "REPS=$reps: want a number >= 1" >&2; exit 2 ;; esac

# One anchored alternative per workload, one thread each.
filter="^($(tr ' ' '\n' <<<"$workloads" | sed '/^$/d' | paste -sd '|'))/threads:1\$"
raw=$(mktemp "${TMPDIR:-/tmp}/nk-stats-cost.XXXXXX") || exit 1
trap 'rm -f "$raw" "$raw.out"' EXIT

# Run one binary once; append "VARIANT WORKLOAD/ALLOCATOR CPU_NS" lines
# from nk_bench's table of medians (workload thr allocator cpu wall sys minflt).
run_one() {
	local variant=$1 bin=$2
	if ! "$bin" --benchmark_filter="$filter" --benchmark_repetitions=1 \
		--benchmark_min_time="$min_time" >"$raw.out" 2>&1; then
		cat "$raw.out" >&2
		echo "stats_cost.sh: $bin failed" >&2
		exit 1
	fi
	awk -v v="$variant" '
		/^workload +thr +allocator/ { t = 1; next }
		t && NF == 0 { t = 0 }
		t && $2 == 1 { print v, $1 "/" $3, $4 }
	' "$raw.out" >>"$raw"
}

echo "stats_cost.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), REPS=$reps MIN_TIME=$min_time, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  with:    $with"
echo "  without: $without"
for ((r = 1; r <= reps; r++)); do
	# Alternate which goes first, so that neither always follows the other.
	if ((r % 2)); then
		run_one with "$with"
		run_one without "$without"
	else
		run_one without "$without"
		run_one with "$with"
	fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { # the values of VARIANT WORKLOAD in $raw
	awk -v v="$1" -v w="$2" '$1 == v && $2 == w { print $3 }' "$raw" | sort -g |
		awk '{ x[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print x[(NR + 1) / 2];
			else printf "%.2f\n", (x[NR / 2] + x[NR / 2 + 1]) / 2 }'
}

echo
echo "CPU ns per operation, medians of $reps runs (1 thread); ratio = with / without"
printf '%-16s %12s %12s %8s\n' workload "with stats" without ratio
bad=0
for w in $workloads; do
	a=$(median with "$w")
	b=$(median without "$w")
	ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {
		if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a > 0 && b > 0) printf "%.3f", a / b; else print "-" }')
	printf '%-16s %12s %12s %8s\n' "$w" "$a" "$b" "$ratio"
	[ "$ratio" = - ] && bad=1
done
if [ $check = 1 ] && [ $bad = 1 ]; then
	echo "FAIL: a workload lacks a figure in a column (runs: $(wc -l <"$raw") lines)"
	exit 1
fi
exit 0
