#!/usr/bin/env bash
# bench/workloads.sh: real programs under glibc, jemalloc, mimalloc, tcmalloc
# and numakeg (LD_PRELOAD), one table: wall time, user+sys CPU time and peak
# RSS per allocator (medians over REPS repetitions), then numakeg's ratios
# against each baseline, per workload and as geometric means.
#
#   bench/workloads.sh              # REPS=5
#   REPS=1 bench/workloads.sh       # a quick look
#
# The workloads are bench/workloads/NAME.sh, the same scripts the preload
# tests run (test/integration/preload/run_compare.sh): real programs on
# generated, deterministic inputs, at BENCH_SCALE times the tests' size
# (bench/workloads/README.md says what each does):
#   python  python3 (PYTHONMALLOC=malloc): dicts, lists, strings in 4 threads
#   sqlite  sqlite3: a table from a recursive CTE, indexes, joins, updates
#   perl    word counts, hashes and sorting over generated lines
#   sort    GNU sort: plain, -n, -k, -u, a small buffer (temporary files), 2 threads
#   redis   redis-server (the only timed process) driven by redis-benchmark
#           and redis-cli
#   cxx     bench/workloads/cxx_workload.cpp, built with g++ -O2 at run time
#           (NOT linked to numakeg): std containers in several threads
#   git     (not in the default set) git init/add/commit/log/diff/gc
#   bash    (not in the default set) a bash script: arrays, strings
#
# Method: allocators interleaved within each repetition (glibc, jemalloc,
# mimalloc, tcmalloc, numakeg), one run at a time.  A run is the workload
# script under one allocator: only the programs it starts through nk_target
# get the preload, and only they are timed (/usr/bin/time around each); the
# run's wall and CPU times are their sums, its RSS their largest peak (for
# redis: the server's lifetime, CPU and peak).  Every run's stdout is hashed
# and must equal the reference (the first successful run), else that
# allocator is FAILED for the workload, as is one whose run exits non-zero
# (crash, timeout).  One extra, untimed run per workload under numakeg with
# NUMAKEG_STATS=text checks that numakeg served it (`numakeg: total allocs
# N`, N > 0).  Timed numakeg runs get no NUMAKEG_* setting from this script
# (settings in the caller's environment pass through and are listed).
# glibc's runs preload libc.so.6, which binds malloc to glibc's also in a
# program linked with a malloc library (Debian's redis-server links
# libjemalloc).
#
# Environment:
#   REPS=N          repetitions (default 5)
#   NUMAKEG_LIB     numakeg's library (default build/lib/libnumakeg.so)
#   WORKLOADS       the workloads to run, e.g. "sqlite sort" (default: the six above)
#   ALLOCATORS      the allocators, e.g. "glibc numakeg" (default: all five)
#   BENCH_SCALE     sizes, in multiples of the preload tests' (default 1: the
#                   same work; each run is then 1-6 s of CPU time)
#   RUN_TIMEOUT     seconds per run before it counts as failed (default 300)
#   KEEP=1          keep the temporary directory (outputs, stats, timings)
#
# Missing jemalloc, mimalloc or tcmalloc libraries are installed with
# apt-get when run as root; otherwise (or when that fails) that allocator is
# reported as n/a with the reason (bench/allocators.sh).  A workload whose
# program is missing is reported as SKIPPED.  Exit status: 0, or 1 when a
# run failed.
# The traps are called indirectly.
# shellcheck disable=SC2317
set -u -o pipefail
export LC_ALL=C TZ=UTC
unset LD_PRELOAD NUMAKEG_STATS NUMAKEG_STATS_FILE NK_WL_LIB NK_WL_TIMES NK_WL_SCALE NK_WL_DIVISOR

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wdir=$here/workloads
root=$(cd "$here/.." && pwd)

REPS=${REPS:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
BENCH_SCALE=${BENCH_SCALE:-1}
DEFAULT_WORKLOADS="python sqlite perl sort redis cxx"
ALL_WORKLOADS="$DEFAULT_WORKLOADS git bash"
ALL_ALLOCATORS="glibc jemalloc mimalloc tcmalloc numakeg"
WORKLOADS=${WORKLOADS:-$DEFAULT_WORKLOADS}
ALLOCATORS=${ALLOCATORS:-$ALL_ALLOCATORS}
# The allocators, found as bench/alloc_compare.sh finds them, and the shared
# helpers (log, status_why, median, spread, hash_of).
# shellcheck source=bench/allocators.sh
. "$here/allocators.sh"

case $REPS in '' | *[!0-9]* | 0)
	echo "REPS must be a positive integer (got '$REPS')" >&2
	exit 2 ;;
esac
case $BENCH_SCALE in '' | *[!0-9]* | 0)
	echo "BENCH_SCALE must be a positive integer (got '$BENCH_SCALE')" >&2
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

nk_check_tools
nk_find_allocators "${allocs[@]}"
libc=$(ldd /bin/true 2>/dev/null | awk '$1 == "libc.so.6" { print $3 }')
[ -f "$libc" ] || { log "libc.so.6 not found (ldd /bin/true)"; exit 2; }

# ---------------------------------------------------------------- scratch
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nk-workloads.XXXXXX") || exit 2
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/in" "$tmp/run" "$tmp/stats" "$tmp/out"

# ---------------------------------------------------------------- workloads
# ARGS[WL]: the workload script's arguments (cxx: its program, built here).
declare -A ARGS SKIP
ARGS[cxx]=
case " $WORKLOADS " in *" cxx "*)
	cxx=${CXX:-g++}
	if ! command -v "$cxx" >/dev/null 2>&1; then
		SKIP[cxx]="$cxx is not installed"
	elif ! "$cxx" -std=c++17 -O2 -pthread -o "$tmp/in/cxx_workload" "$wdir/cxx_workload.cpp" 2>"$tmp/in/cxx.err"; then
		SKIP[cxx]="$cxx failed to build cxx_workload.cpp: $(head -n 3 "$tmp/in/cxx.err" | tr '\n' ' ')"
	else
		ARGS[cxx]=$tmp/in/cxx_workload
	fi ;;
esac

# ---------------------------------------------------------------- one run
# run_one WL ALLOC TAG [VAR=VALUE...]: one run of bench/workloads/WL.sh.
# Sets R_RC (0: success, 77: the workload skipped), R_WHY (why it failed),
# R_WALL, R_CPU (user + sys), R_SYS (seconds), R_RSS (KiB), R_OUT (stdout's
# file).
run_one() {
	local wl=$1 a=$2 tag=$3 tf preload
	shift 3
	if [ "$a" = glibc ]; then preload=$libc; else preload=${LIB[$a]}; fi
	R_OUT=$tmp/out/$wl.$a.$tag.out
	tf=$tmp/out/$wl.$a.$tag.time
	: >"$tf"
	rm -rf "$tmp/run" && mkdir "$tmp/run"
	# shellcheck disable=SC2086  # ARGS[WL] is empty or one path without spaces
	(cd "$tmp/run" && exec env NK_WL_LIB="$preload" NK_WL_TIMES="$tf" NK_WL_SCALE="$BENCH_SCALE" "$@" \
		timeout -k 5 "$RUN_TIMEOUT" bash "$wdir/$wl.sh" ${ARGS[$wl]:-}) \
		</dev/null >"$R_OUT" 2>"$tmp/out/$wl.$a.$tag.err"
	R_RC=$?
	R_WHY='' R_WALL='' R_CPU='' R_SYS='' R_RSS=''
	if [ "$R_RC" = 77 ]; then
		R_WHY=$(cat "$R_OUT" "$tmp/out/$wl.$a.$tag.err" | grep -m1 SKIPPED | sed 's/^SKIPPED: [^:]*: //')
		return
	elif [ "$R_RC" != 0 ]; then
		R_WHY=$(status_why "$R_RC" "$tf")
		return
	elif ! grep -Eq '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$tf"; then
		R_RC=1 R_WHY="no timed program (nothing ran through nk_target)"
		return
	fi
	read -r R_WALL R_CPU R_SYS R_RSS <<<"$(awk '/^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$/ {
		w += $1; c += $2 + $3; s += $3; if ($4 > r) r = $4 }
		END { printf "%.2f %.2f %.2f %d\n", w, c, s, r }' "$tf")"
}

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
printf 'REPS=%s, medians; BENCH_SCALE=%s; allocators interleaved in each repetition; one run at a time\n' \
	"$REPS" "$BENCH_SCALE"
GLIBC_HOW="LD_PRELOAD=$libc" nk_describe_allocators "${allocs[@]}"
nkenv=$(env | grep '^NUMAKEG_' | grep -v '^NUMAKEG_LIB=' | tr '\n' ' ')
printf '  numakeg environment: %s\n' "${nkenv:-(none: defaults)}"
printf '  workloads: %s\n' "$wdir"

# ---------------------------------------------------------------- the runs
declare -A WALL CPU SYS RSS FAIL VERIFY
failed=0
for wl in "${workloads[@]}"; do
	[ -n "${SKIP[$wl]:-}" ] && { log "== $wl: SKIPPED: ${SKIP[$wl]}"; continue; }
	ref='' refwho='' vhash=''
	# The untimed numakeg run, with stats: did numakeg serve the program?
	if available numakeg; then
		rm -f "$tmp"/stats/*
		run_one "$wl" numakeg verify NUMAKEG_STATS=text "NUMAKEG_STATS_FILE=$tmp/stats/$wl.%p"
		if [ "$R_RC" = 77 ]; then
			SKIP[$wl]=$R_WHY
			log "== $wl: SKIPPED: ${SKIP[$wl]}"
			continue
		elif [ "$R_RC" != 0 ]; then
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
			if [ "$R_RC" = 77 ]; then
				SKIP[$wl]=$R_WHY
				break 2
			elif [ "$R_RC" != 0 ]; then
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
	[ -n "${SKIP[$wl]:-}" ] && log "== $wl: SKIPPED: ${SKIP[$wl]}"
	if [ -n "$vhash" ] && [ -n "$ref" ] && [ "$vhash" != "$ref" ] && [ -z "${FAIL[$wl,numakeg]:-}" ]; then
		FAIL[$wl,numakeg]="verification run: output differs from $refwho's (sha256 $vhash, not $ref)"
	fi
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
		[ "$a" = numakeg ] && note=${VERIFY[$wl]:-}
		# shellcheck disable=SC2059
		printf "$fmt" "$wl" "$a" "$(printf %.2f "${MW[$wl,$a]}")" "$(printf %.2f "${MC[$wl,$a]}")" \
			"$(printf %.2f "$(median "${ss[@]}")")" "${MR[$wl,$a]}" "$(spread "${ws[@]}")" "$note"
	done
done
echo '(medians of the timed programs'"'"' sums; redis: the server'"'"'s; spread: (max-min)/median of wall;'
echo ' numakeg note: from the untimed stats run: allocations served, bytes its page layer gave back with madvise)'

# ---------------------------------------------------------------- ratios
echo
declare -A LT LR LC NG
for wl in "${workloads[@]}"; do
	[ -n "${SKIP[$wl]:-}" ] && continue
	for b in "${allocs[@]}"; do
		[ "$b" = numakeg ] && continue
		label="ratio numakeg/$b:"
		why=$(ratio_na_why "$wl" "$b")
		if [ -n "$why" ]; then
			printf '%-8s %-24s n/a (%s)\n' "$wl" "$label" "$why"
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
