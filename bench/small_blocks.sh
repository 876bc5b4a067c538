#!/usr/bin/env bash
# bench/small_blocks.sh: issue 10's small-block benchmarks under glibc,
# jemalloc, mimalloc, tcmalloc and numakeg in ONE interleaved run of
# bench/alloc_compare.sh, then one table: every figure per allocator
# (medians), numakeg's ratio to jemalloc and to the best of jemalloc,
# mimalloc and tcmalloc, and each target of the issue marked met / NOT MET.
#
#   bench/small_blocks.sh [MIMALLOC_BENCH_CHECKOUT]
#   REPS=5 bench/small_blocks.sh /work/scratch/mimalloc-bench   # about 20-30 min on 2 busy cores
#   REPS=1 PARTS="threads batch" bench/small_blocks.sh           # a quick look
#
# Parts (PARTS, default all five; programs built by bench/CMakeLists.txt
# into BENCH_BIN, not linked with numakeg):
#   threads   bench/thread_memory.c with 1, 10, 100, 1000 threads (THREADS):
#             each does 20 k mallocs/frees of 16 B-2 KiB, frees everything
#             and blocks; the resident set with every thread idle, and minus
#             the same run's baseline.  Target: 1000 threads <= 2x glibc.
#   locality  bench/locality.c: a list and a tree of 32-128 B nodes built
#             with interleaved temporaries; ns per node visited by a walk.
#   batch     bench/batch.c with batches of 10, 100, 1000, 10000 blocks of
#             16-64 B (BATCHES), freed FIFO and LIFO: ns per block.
#             (locality and batch time the thread's CPU time, so that a
#             busy machine's preemptions do not count.)
#   python    bench/pyobjects.py under python3 with PYTHONMALLOC=malloc
#             (dicts, lists, strings, gc; about 4 s): wall time (the
#             target's) and CPU time (user + sys, steadier on a busy
#             machine).  Its output must be the same under every allocator.
#             Target: <= 1.0x jemalloc.
#   mimalloc  mimalloc-bench's glibc-simple, glibc-thread, larsonN,
#             cache-thrashN, cache-scratchN, alloc-testN, xmalloc-testN
#             through bench/mimalloc-bench.sh (needs the checkout given as
#             the argument, else NOT RUN).  Target, each: <= 1.0x jemalloc
#             and <= 1.1x the best of jemalloc, mimalloc, tcmalloc.
# All figures are lower-is-better (glibc-thread's is 1e9 / iterations, as
# mimalloc-bench's bench.sh reports it).  alloc_compare.sh's own table comes
# first: its "time" column holds each workload's score (MiB, ns or s).
#
# Environment: REPS (default 5), PARTS, THREADS, BATCHES, PYTHON (default
# /usr/bin/python3), BENCH_BIN (default build/bench), NUMAKEG_LIB, PROCS,
# ALLOCATORS, RUN_TIMEOUT, KEEP as for bench/alloc_compare.sh and
# bench/mimalloc-bench.sh; QUICK=1 runs every program with tiny parameters
# (the ctest smoke test: the figures then mean nothing).
# Exit status: 0; 1 when a run failed; 2 on bad usage or a missing program.
set -u -o pipefail
export LC_ALL=C TZ=UTC

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
log() { printf '%s\n' "$*" >&2; }

case ${1:-} in -h | --help)
	log "usage: $0 [MIMALLOC_BENCH_CHECKOUT]  (see the comment at the top of $0)"
	exit 2 ;;
esac
[ $# -le 1 ] || { log "usage: $0 [MIMALLOC_BENCH_CHECKOUT]"; exit 2; }
mbench=${1:-}

ALL_PARTS="threads locality batch python mimalloc"
PARTS=${PARTS:-$ALL_PARTS}
THREADS=${THREADS:-1 10 100 1000}
BATCHES=${BATCHES:-10 100 1000 10000}
BENCH_BIN=${BENCH_BIN:-$root/build/bench}
PYTHON=${PYTHON:-/usr/bin/python3}
QUICK=${QUICK:-0}
export REPS=${REPS:-5}
MB_TESTS="glibc-simple glibc-thread larsonN cache-thrashN cache-scratchN alloc-testN xmalloc-testN"
for p in $PARTS; do
	case " $ALL_PARTS " in *" $p "*) ;; *)
		log "unknown part '$p' (known: $ALL_PARTS)"
		exit 2 ;;
	esac
done
for n in $THREADS $BATCHES; do
	case $n in '' | *[!0-9]* | 0) log "THREADS and BATCHES hold positive integers (got '$n')"; exit 2 ;; esac
done
has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
[ -d "$BENCH_BIN" ] && BENCH_BIN=$(cd "$BENCH_BIN" && pwd) # the runs start in a scratch directory
for p in thread_memory locality batch; do
	if [ ! -x "$BENCH_BIN/$p" ]; then
		log "$BENCH_BIN/$p is missing: build it (cmake -S $root -B $root/build -DCMAKE_BUILD_TYPE=Release && cmake --build $root/build), or set BENCH_BIN"
		exit 2
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nk-small-blocks.XXXXXX") || exit 2
if [ "${KEEP:-0}" = 1 ]; then log "keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
trap 'exit 130' INT TERM
metrics=$tmp/metrics # WORKLOAD ALLOCATOR NAME VALUE, one line per figure per run

# ------------------------------------------------------------ the spec
# Sourced by alloc_compare.sh; a score function files every "name value"
# line of the run's output and prints the workload's main figure.
if [ "$QUICK" = 1 ]; then
	tm_args=(300) lo_args=(3000 3) ba_args=(20000 1) py_args=(300)
else
	tm_args=() lo_args=() ba_args=() py_args=()
fi
spec=$tmp/spec.sh
{
	printf 'SB_METRICS=%q\n' "$metrics"
	cat <<'EOF'
SPEC_TITLE+="${SPEC_TITLE:+; }issue 10's small-block benchmarks (bench/small_blocks.sh)"
sb_score() { # OUTPUT ALLOCATOR WORKLOAD MAIN-FIGURE
	awk -v a="$2" -v wl="$3" '!/^#/ && NF == 2 && $2 ~ /^-?[0-9.]+$/ { print wl, a, $1, $2 }' "$1" >>"$SB_METRICS"
	awk -v m="$4" '$1 == m && NF == 2 { print $2; found = 1 } END { exit !found }' "$1"
}
sb_rss() { sb_score "$1" "$2" "$3" rss_idle_mib; }
sb_walk() { sb_score "$1" "$2" "$3" walk_ns_per_node; }
sb_batch() { sb_score "$1" "$2" "$3" ns_per_block; }
EOF
	if has threads; then
		for n in $THREADS; do
			printf 'workload %q status sb_rss -- %q %q' "threads$n" "$BENCH_BIN/thread_memory" "$n"
			printf ' %q' "${tm_args[@]}"
			printf '\n'
		done
	fi
	if has locality; then
		printf 'workload locality status sb_walk -- %q' "$BENCH_BIN/locality"
		printf ' %q' "${lo_args[@]}"
		printf '\n'
	fi
	if has batch; then
		for n in $BATCHES; do
			printf 'workload %q status sb_batch -- %q %q' "batch$n" "$BENCH_BIN/batch" "$n"
			printf ' %q' "${ba_args[@]}"
			printf '\n'
		done
	fi
	if has python; then
		if [ -x "$PYTHON" ]; then
			printf 'workload python output -- env PYTHONMALLOC=malloc %q %q' "$PYTHON" "$here/pyobjects.py"
			printf ' %q' "${py_args[@]}"
			printf '\n'
		else
			printf 'unavailable python %q\n' "$PYTHON is not installed (Debian: python3; or set PYTHON)"
		fi
	fi
} >"$spec"

# ------------------------------------------------------------ the run
out=$tmp/compare.txt
if has mimalloc && [ -n "$mbench" ]; then
	TESTS=$MB_TESTS EXTRA_SPEC=$spec "$here/mimalloc-bench.sh" "$mbench" | tee "$out"
	rc=$?
else
	if has mimalloc; then
		for t in $MB_TESTS; do
			printf 'unavailable %q %q\n' "$t" "no mimalloc-bench checkout given (bench/small_blocks.sh PATH)" >>"$spec"
		done
	fi
	"$here/alloc_compare.sh" "$spec" | tee "$out"
	rc=$?
fi
[ "$rc" -le 1 ] || exit "$rc"

# ------------------------------------------------------------ the summary
# alloc_compare.sh's table gives each run's status and main figure ("time");
# the metrics file the other figures, of which we take the medians.
{
	awk '/^workload +allocator +time s/ { t = 1; next } /^\(medians/ { t = 0 }
	     t && NF >= 3 {
	        if ($2 == "-" && index($0, "NOT RUN: ")) { sub(/.*NOT RUN: /, ""); print $1, "*", "status", "NOTRUN", $0; next }
	        if ($3 == "n/a") { print $1, $2, "status", "n/a"; next }
	        if ($3 == "-") { print $1, $2, "status", "FAILED"; next }
	        print $1, $2, "status", "ok"; print $1, $2, "time", $3; print $1, $2, "cpu", $4 }' "$out"
	sort -k1,1 -k2,2 -k3,3 -k4,4g "$metrics" 2>/dev/null | awk '
	    function flush() { if (n) print key, (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2); n = 0 }
	    { k = $1 " " $2 " " $3; if (k != key) { flush(); key = k } v[++n] = $4 }
	    END { flush() }'
} >"$tmp/data"

# Rows: WORKLOAD|FIGURE|LABEL|UNIT|TARGET (je: <= 1.0x jemalloc and <= 1.1x
# the best; je1: <= 1.0x jemalloc; glibc2: <= 2x glibc; -: none).
{
	if has threads; then
		for n in $THREADS; do
			t=-
			[ "$n" = 1000 ] && t=glibc2
			printf 'threads%s|rss_idle_mib|%s threads idle: RSS|MiB|%s\n' "$n" "$n" "$t"
			printf 'threads%s|rss_delta_mib|%s threads idle: RSS - baseline|MiB|-\n' "$n" "$n"
		done
	fi
	if has locality; then
		printf 'locality|walk_ns_per_node|locality: walk, list + tree|ns/node|-\n'
		printf 'locality|list_ns_per_node|locality: walk, list|ns/node|-\n'
		printf 'locality|tree_ns_per_node|locality: walk, tree|ns/node|-\n'
		printf 'locality|build_ns_per_node|locality: build|ns/node|-\n'
	fi
	if has batch; then
		for n in $BATCHES; do
			printf 'batch%s|fifo_ns_per_block|batch %s, FIFO frees|ns/block|-\n' "$n" "$n"
			printf 'batch%s|lifo_ns_per_block|batch %s, LIFO frees|ns/block|-\n' "$n" "$n"
		done
	fi
	if has python; then
		printf 'python|time|python3 pyobjects.py|s|je1\n'
		printf 'python|cpu|python3 pyobjects.py, cpu (user+sys)|s|-\n'
	fi
	if has mimalloc; then
		for t in $MB_TESTS; do
			case $t in
			glibc-thread) printf '%s|time|%s (1e9/iterations)|-|je\n' "$t" "$t" ;;
			larsonN) printf '%s|time|%s (relative time)|s|je\n' "$t" "$t" ;;
			xmalloc-testN) printf '%s|time|%s (rtime)|s|je\n' "$t" "$t" ;;
			*) printf '%s|time|%s|s|je\n' "$t" "$t" ;;
			esac
		done
	fi
} >"$tmp/rows"

echo
echo "== small blocks (issue 10): medians over REPS=$REPS; lower is better everywhere"
echo "   nk/je: numakeg / jemalloc; nk/best: numakeg / the best of jemalloc, mimalloc, tcmalloc"
awk -F'|' -v datafile="$tmp/data" -v batches="$BATCHES" '
BEGIN {
	while ((getline line < datafile) > 0) {
		split(line, f, " ")
		if (f[3] == "status") {
			st[f[1], f[2]] = f[4]
			if (f[4] == "NOTRUN") { r = line; sub(/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ /, "", r); why[f[1]] = r }
		} else val[f[1], f[2], f[3]] = f[4]
	}
	na = split("glibc jemalloc mimalloc tcmalloc numakeg", A, " ")
	printf "%-38s %-8s %9s %9s %9s %9s %9s %6s %7s  %s\n", "figure", "unit", "glibc", "jemalloc", "mimalloc", "tcmalloc", "numakeg", "nk/je", "nk/best", "target"
	met = notmet = unmeasured = 0
}
function get(wl, a, m) {
	if (st[wl, "*"] == "NOTRUN") return "NOTRUN"
	if (!((wl, a) in st)) return "-"
	if (st[wl, a] != "ok") return st[wl, a]
	return ((wl, a, m) in val) ? val[wl, a, m] : "-"
}
function num(x) { return x ~ /^-?[0-9.]+$/ }
function show(x) { return num(x) ? sprintf(x >= 100 ? "%.1f" : x >= 10 ? "%.2f" : "%.3f", x) : x }
function ratio(x, y) { return num(x) && num(y) && y > 0 ? sprintf("%.2f", x / y) : "-" }
{
	wl = $1; m = $2; label = $3; unit = $4; target = $5
	if (st[wl, "*"] == "NOTRUN") {
		printf "%-38s %-8s NOT RUN: %s\n", label, unit, why[wl]
		if (target != "-") { unmeasured++; printf "%-38s target %s: NOT MEASURED\n", "", target }
		next
	}
	best = ""
	for (i = 1; i <= na; i++) {
		v[A[i]] = get(wl, A[i], m)
		if (A[i] ~ /^(jemalloc|mimalloc|tcmalloc)$/ && num(v[A[i]]) && (best == "" || v[A[i]] + 0 < best + 0)) best = v[A[i]]
	}
	rje = ratio(v["numakeg"], v["jemalloc"]); rbest = ratio(v["numakeg"], best)
	verdict = ""
	if (target == "je") {
		if (rje == "-" || rbest == "-") verdict = "<=1.0 je, <=1.1 best: NOT MEASURED"
		else verdict = "<=1.0 je, <=1.1 best: " ((rje + 0 <= 1.0 && rbest + 0 <= 1.1) ? "met" : "NOT MET")
	} else if (target == "je1") {
		if (rje == "-") verdict = "<=1.0 je: NOT MEASURED"
		else verdict = "<=1.0 je: " (rje + 0 <= 1.0 ? "met" : "NOT MET")
	} else if (target == "glibc2") {
		rg = ratio(v["numakeg"], v["glibc"])
		if (rg == "-") verdict = "<=2x glibc: NOT MEASURED"
		else verdict = "nk/glibc " rg " <=2: " (rg + 0 <= 2.0 ? "met" : "NOT MET")
	}
	if (verdict ~ /NOT MEASURED/) unmeasured++
	else if (verdict ~ /NOT MET/) notmet++
	else if (verdict ~ /met/) met++
	printf "%-38s %-8s %9s %9s %9s %9s %9s %6s %7s  %s\n", label, unit, show(v["glibc"]), show(v["jemalloc"]), show(v["mimalloc"]), show(v["tcmalloc"]), show(v["numakeg"]), rje, rbest, verdict
}
END {
	# The cliff: ns per block (FIFO and LIFO averaged) at each batch size
	# over the smallest size, per allocator.
	n = split(batches, B, " ")
	if (n > 1 && (("batch" B[1], "numakeg") in st)) {
		printf "\nbatch cliff: ns/block (FIFO+LIFO)/2 at each batch size / at %s\n", B[1]
		for (i = 1; i <= na; i++) {
			line = sprintf("  %-9s", A[i]); b0 = get("batch" B[1], A[i], "ns_per_block")
			for (j = 1; j <= n; j++) line = line sprintf(" %6s: %s", B[j], ratio(get("batch" B[j], A[i], "ns_per_block"), b0))
			print line
		}
	}
	printf "\ntargets of issue 10 in this run: %d met, %d NOT MET, %d not measured\n", met, notmet, unmeasured
}' "$tmp/rows"
exit "$rc"
