#!/usr/bin/env bash
# bench/alloc_compare.sh: programs under glibc, jemalloc, mimalloc, tcmalloc
# and numakeg (LD_PRELOAD), one interleaved run, one table: wall time, CPU
# time (user + sys), system time, minor page faults and peak RSS per
# allocator (medians over REPS repetitions), then numakeg's ratios against
# each baseline.
#
#   bench/alloc_compare.sh             # issue 8's workloads, REPS=5
#   REPS=3 bench/alloc_compare.sh
#   bench/alloc_compare.sh SPEC        # the workloads that SPEC defines
#
# Default workloads (built by bench/CMakeLists.txt into build/bench/, not
# linked with numakeg; each prints a checksum that must be the same under
# every allocator):
#   large   large_churn: random sizes 64 KiB-4 MiB, 20 live, sparsely
#           touched (first and last cache line, every 16th page), 40000
#           iterations, 1 in 32 a calloc
#   mixed   mixed_sizes: one thread, 8 B-64 KiB with 16 buffers growing by
#           realloc to up to 1 MiB, 2M operations, everything memset
#
# SPEC is a bash file that this script sources; it calls, once per workload,
#   workload NAME CHECK [SCORE_FUNCTION] -- COMMAND [ARGS...]
# CHECK is `output` (stdout must be byte-identical under every allocator)
# or `status` (stdout holds timings: only the exit status is checked).
# SCORE_FUNCTION, when given, is a function of SPEC called with the run's
# stdout file, the allocator's name and the workload's name; it prints the
# seconds to report as the run's time instead of the wall time (for
# programs that run for a fixed time and report their throughput; or any
# lower-is-better figure the program prints), and fails when the output has
# no score.  SPEC may also call
#   unavailable NAME REASON
# for a workload that cannot run (the table shows it with the reason), and
# set SPEC_TITLE (a line for the header).  bench/mimalloc-bench.sh writes
# such a SPEC.
#
# Method: within each repetition the allocators run one after the other,
# one run at a time, for each workload in turn; the allocators' order
# rotates by one from repetition to repetition, so that none always runs
# first or last while the machine's load drifts.  /usr/bin/time measures
# each run (%e %U %S %R %M).  A run that exits non-zero, times out, or
# (CHECK output) prints other bytes than the first successful run is
# FAILED for that allocator, with the reason; its later repetitions are
# skipped.  Timed numakeg runs get no NUMAKEG_* setting from this script
# (settings in the caller's environment pass through and are listed).
#
# Environment:
#   REPS=N          repetitions (default 5)
#   NUMAKEG_LIB     numakeg's library (default build/lib/libnumakeg.so)
#   NUMAKEG_BASE_LIB another build of numakeg (e.g. of an earlier commit):
#                   when set, it runs too, as the allocator nk-base, and
#                   numakeg's ratios against it say what a change did
#   BENCH_BIN       where large_churn and mixed_sizes are (default build/bench)
#   WORKLOADS       the workloads to run, e.g. "large" (default: all of SPEC)
#   ALLOCATORS      the allocators, e.g. "glibc numakeg" (default: all five)
#   RUN_TIMEOUT     seconds per run before it counts as failed (default 300)
#   KEEP=1          keep the temporary directory (outputs and timings)
#
# Missing jemalloc, mimalloc or tcmalloc libraries are installed with
# apt-get when run as root; otherwise that allocator is reported as n/a with
# the reason.  Exit status: 0, 1 when a run failed, 2 on bad usage.
# The spec's functions and the traps are called indirectly.
# shellcheck disable=SC2317
set -u -o pipefail
export LC_ALL=C TZ=UTC
unset LD_PRELOAD NUMAKEG_STATS NUMAKEG_STATS_FILE

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

REPS=${REPS:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
BENCH_BIN=${BENCH_BIN:-$root/build/bench}
ALL_ALLOCATORS="glibc jemalloc mimalloc tcmalloc numakeg"
[ -n "${NUMAKEG_BASE_LIB:-}" ] && ALL_ALLOCATORS+=" nk-base"
ALLOCATORS=${ALLOCATORS:-$ALL_ALLOCATORS}
# The allocators, found as bench/workloads.sh finds them, and the shared
# helpers (log, status_why, median, spread, hash_of).
# shellcheck source=bench/allocators.sh
. "$here/allocators.sh"

usage() {
	log "usage: $0 [SPEC]   (see the comment at the top of $0)"
	exit 2
}

case $REPS in '' | *[!0-9]* | 0)
	log "REPS must be a positive integer (got '$REPS')"
	exit 2 ;;
esac
case $RUN_TIMEOUT in '' | *[!0-9]* | 0)
	log "RUN_TIMEOUT must be a positive integer (got '$RUN_TIMEOUT')"
	exit 2 ;;
esac
[ $# -le 1 ] || usage
case ${1:-} in -h | --help) usage ;; esac
for a in $ALLOCATORS; do
	case " $ALL_ALLOCATORS " in *" $a "*) ;; *)
		log "unknown allocator '$a' (known: $ALL_ALLOCATORS)"
		exit 2 ;;
	esac
done
case " $ALLOCATORS " in *" numakeg "*) ;; *) ALLOCATORS="$ALLOCATORS numakeg" ;; esac
read -r -a allocs <<<"$ALLOCATORS"

# ---------------------------------------------------------------- workloads
# W_NAMES: in definition order; W_CMD[NAME]: the command, NUL-free words
# joined by \x1f (unit separator) so that arguments keep their spaces.
declare -a W_NAMES=()
declare -A W_CMD W_CHECK W_SCORE W_UNAVAIL
SPEC_TITLE=
workload() {
	local name=$1 check=${2:-} score=
	[ $# -ge 4 ] || { log "spec: workload NAME CHECK [SCORE_FUNCTION] -- COMMAND: too few arguments ($*)"; exit 2; }
	shift 2
	if [ "$1" != -- ]; then
		score=$1
		shift
	fi
	[ "${1:-}" = -- ] || { log "spec: workload $name: '--' expected before the command"; exit 2; }
	shift
	[ $# -ge 1 ] || { log "spec: workload $name: no command"; exit 2; }
	case $check in output | status) ;; *)
		log "spec: workload $name: CHECK must be output or status (got '$check')"
		exit 2 ;;
	esac
	if [ -n "$score" ] && [ "$(type -t "$score")" != function ]; then
		log "spec: workload $name: $score is not a function"
		exit 2
	fi
	W_NAMES+=("$name")
	W_CHECK[$name]=$check W_SCORE[$name]=$score
	local IFS=$'\x1f'
	W_CMD[$name]="$*"
}
unavailable() {
	W_NAMES+=("$1")
	W_UNAVAIL[$1]=$2
}

if [ $# = 1 ]; then
	[ -f "$1" ] || { log "$1: no such file"; exit 2; }
	# shellcheck disable=SC1090
	. "$1"
else
	SPEC_TITLE="issue 8's workloads: $BENCH_BIN/large_churn, $BENCH_BIN/mixed_sizes"
	for p in large_churn mixed_sizes; do
		if [ ! -x "$BENCH_BIN/$p" ]; then
			log "$BENCH_BIN/$p is missing: build it (cmake -S $root -B $root/build -DCMAKE_BUILD_TYPE=Release && cmake --build $root/build), or set BENCH_BIN"
			exit 2
		fi
	done
	workload large output -- "$BENCH_BIN/large_churn" 40000 20
	workload mixed output -- "$BENCH_BIN/mixed_sizes" 2000000
fi
if [ -n "${WORKLOADS:-}" ]; then
	for w in $WORKLOADS; do
		found=0
		for n in "${W_NAMES[@]}"; do [ "$n" = "$w" ] && found=1; done
		[ $found = 1 ] || { log "unknown workload '$w' (known: ${W_NAMES[*]})"; exit 2; }
	done
	read -r -a W_NAMES <<<"$WORKLOADS"
fi
[ ${#W_NAMES[@]} -gt 0 ] || { log "no workloads"; exit 2; }

# ---------------------------------------------------------------- tools
nk_check_tools

# ---------------------------------------------------------------- allocators
nk_find_allocators "${allocs[@]}"

# ---------------------------------------------------------------- scratch
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nk-compare.XXXXXX") || exit 2
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/run" "$tmp/out"

# ---------------------------------------------------------------- one run
# run_one WL ALLOC TAG: sets R_RC (0: success), R_WHY, R_OUT (stdout's file)
# and R_WALL R_CPU R_SYS R_FLT R_RSS (seconds, seconds, seconds, count, KiB).
run_one() {
	local wl=$1 a=$2 tag=$3 tf u s env=() cmd=() score
	IFS=$'\x1f' read -r -a cmd <<<"${W_CMD[$wl]}"
	[ "$a" = glibc ] || env=("LD_PRELOAD=${LIB[$a]}")
	R_OUT=$tmp/out/$wl.$a.$tag.out
	tf=$tmp/out/$wl.$a.$tag.time
	rm -rf "$tmp/run" && mkdir "$tmp/run"
	(cd "$tmp/run" && exec /usr/bin/time -f '%e %U %S %R %M' -o "$tf" \
		timeout -k 5 "$RUN_TIMEOUT" env "${env[@]}" "${cmd[@]}") \
		</dev/null >"$R_OUT" 2>"$tmp/out/$wl.$a.$tag.err"
	R_RC=$?
	R_WHY='' R_WALL='' R_CPU='' R_SYS='' R_FLT='' R_RSS=''
	if [ "$R_RC" != 0 ]; then
		R_WHY=$(status_why "$R_RC" "$tf")
		return
	fi
	read -r R_WALL u s R_FLT R_RSS <<<"$(tail -n 1 "$tf")"
	R_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	R_SYS=$s
	score=${W_SCORE[$wl]}
	if [ -n "$score" ]; then
		if ! R_WALL=$("$score" "$R_OUT" "$a" "$wl") || [ -z "$R_WALL" ]; then
			R_RC=1 R_WHY="no score in the output ($score)"
		fi
	fi
}

# ---------------------------------------------------------------- header
start=$SECONDS
load0=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'numakeg allocator comparison: %s, %s cpus, kernel %s, load %s\n' \
	"$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$(uname -r)" "$load0"
[ -n "$SPEC_TITLE" ] && printf '%s\n' "$SPEC_TITLE"
if awk -v l="${load0%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	echo "  warning: the machine is busy (load ${load0%% *} on $(nproc) cpus): wall times will be noisy"
fi
printf 'REPS=%s, medians; allocators interleaved (order rotated each repetition); one run at a time\n' "$REPS"
nk_describe_allocators "${allocs[@]}"
nkenv=$(env | grep '^NUMAKEG_' | grep -Ev '^NUMAKEG_(BASE_)?LIB=' | tr '\n' ' ')
printf '  numakeg environment: %s\n' "${nkenv:-(none: defaults)}"
for wl in "${W_NAMES[@]}"; do
	[ -n "${W_UNAVAIL[$wl]:-}" ] && continue
	IFS=$'\x1f' read -r -a c <<<"${W_CMD[$wl]}"
	printf '  %-14s %s%s\n' "$wl" "${c[*]}" "${W_SCORE[$wl]:+  (time: ${W_SCORE[$wl]} of its output)}"
done

# ---------------------------------------------------------------- the runs
declare -A WALL CPU SYS FLT RSS FAIL REF REFWHO
failed=0
n=${#allocs[@]}
for rep in $(seq "$REPS"); do
	for wl in "${W_NAMES[@]}"; do
		[ -n "${W_UNAVAIL[$wl]:-}" ] && continue
		line="== rep $rep/$REPS $wl (load $(cut -d' ' -f1 /proc/loadavg)):"
		for k in $(seq 0 $((n - 1))); do
			a=${allocs[$(((k + rep - 1) % n))]}
			available "$a" || continue
			[ -n "${FAIL[$wl,$a]:-}" ] && continue
			run_one "$wl" "$a" "r$rep"
			if [ "$R_RC" != 0 ]; then
				err=$(grep -v '^ *$' "$tmp/out/$wl.$a.r$rep.err" 2>/dev/null | tail -n 2 | tr '\n' ' ' | cut -c1-160)
				FAIL[$wl,$a]="rep $rep: $R_WHY${err:+ (stderr: $err)}"
				line+=" $a FAILED"
				continue
			fi
			if [ "${W_CHECK[$wl]}" = output ]; then
				h=$(hash_of "$R_OUT")
				if [ -z "${REF[$wl]:-}" ]; then
					REF[$wl]=$h REFWHO[$wl]="$a rep $rep"
				elif [ "$h" != "${REF[$wl]}" ]; then
					FAIL[$wl,$a]="rep $rep: output differs from ${REFWHO[$wl]}'s (sha256 $h, not ${REF[$wl]}): $(head -c 120 "$R_OUT" | tr '\n' ' ')"
					line+=" $a FAILED"
					continue
				fi
			fi
			WALL[$wl,$a]+="$R_WALL " CPU[$wl,$a]+="$R_CPU " SYS[$wl,$a]+="$R_SYS "
			FLT[$wl,$a]+="$R_FLT " RSS[$wl,$a]+="$R_RSS "
			line+=" $a ${R_WALL}s"
		done
		log "$line"
	done
done

# ---------------------------------------------------------------- the table
echo
fmt='%-15s %-9s %9s %8s %8s %10s %9s %6s  %s\n'
# shellcheck disable=SC2059
printf "$fmt" workload allocator 'time s' 'cpu s' 'sys s' 'minflt' 'rss MiB' spread note
declare -A MW MC MS MF MR
for wl in "${W_NAMES[@]}"; do
	if [ -n "${W_UNAVAIL[$wl]:-}" ]; then
		# shellcheck disable=SC2059
		printf "$fmt" "$wl" - - - - - - - "NOT RUN: ${W_UNAVAIL[$wl]}"
		continue
	fi
	for a in "${allocs[@]}"; do
		if ! available "$a"; then
			# shellcheck disable=SC2059
			printf "$fmt" "$wl" "$a" n/a n/a n/a n/a n/a - "${NA[$a]}"
			continue
		fi
		if [ -n "${FAIL[$wl,$a]:-}" ]; then
			failed=1
			# shellcheck disable=SC2059
			printf "$fmt" "$wl" "$a" - - - - - - "FAILED: ${FAIL[$wl,$a]}"
			continue
		fi
		read -r -a ws <<<"${WALL[$wl,$a]}"
		read -r -a cs <<<"${CPU[$wl,$a]}"
		read -r -a ss <<<"${SYS[$wl,$a]}"
		read -r -a fs <<<"${FLT[$wl,$a]}"
		read -r -a rs <<<"${RSS[$wl,$a]}"
		MW[$wl,$a]=$(median "${ws[@]}")
		MC[$wl,$a]=$(median "${cs[@]}")
		MS[$wl,$a]=$(median "${ss[@]}")
		MF[$wl,$a]=$(median "${fs[@]}")
		MR[$wl,$a]=$(awk -v k="$(median "${rs[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')
		note=
		[ -n "${W_SCORE[$wl]}" ] && note="time: the program's own"
		# shellcheck disable=SC2059
		printf "$fmt" "$wl" "$a" "$(printf %.3f "${MW[$wl,$a]}")" "$(printf %.2f "${MC[$wl,$a]}")" \
			"$(printf %.2f "${MS[$wl,$a]}")" "$(printf %.0f "${MF[$wl,$a]}")" "${MR[$wl,$a]}" \
			"$(spread "${ws[@]}")" "$note"
	done
done
echo '(medians over the repetitions; time: wall-clock, or the score the program reports where the note says so;'
echo ' cpu: user + sys; minflt: minor page faults; rss: peak resident set (VmHWM); spread: (max-min)/median of time)'

# ---------------------------------------------------------------- ratios
echo
for wl in "${W_NAMES[@]}"; do
	[ -n "${W_UNAVAIL[$wl]:-}" ] && continue
	for b in "${allocs[@]}"; do
		[ "$b" = numakeg ] && continue
		label="numakeg/$b:"
		why=$(ratio_na_why "$wl" "$b")
		if [ -n "$why" ]; then
			printf '%-15s %-18s n/a (%s)\n' "$wl" "$label" "$why"
			continue
		fi
		awk -v wl="$wl" -v label="$label" \
			-v nw="${MW[$wl,numakeg]}" -v bw="${MW[$wl,$b]}" -v nc="${MC[$wl,numakeg]}" -v bc="${MC[$wl,$b]}" \
			-v nf="${MF[$wl,numakeg]}" -v bf="${MF[$wl,$b]}" -v nr="${MR[$wl,numakeg]}" -v br="${MR[$wl,$b]}" \
			'function q(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "-" }
			 BEGIN { printf "%-15s %-18s time %s, minflt %s, rss %s (cpu %s)\n", wl, label,
			         q(nw, bw), q(nf, bf), q(nr, br), q(nc, bc) }'
	done
done
echo "(below 1: numakeg faster, fewer faults or smaller)"
printf 'total %d s; load at the start %s, at the end %s\n' "$((SECONDS - start))" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)"
exit "$failed"
