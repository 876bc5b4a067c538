# Sourced by the preload workloads (wl_*.sh); run_compare.sh sets
# NK_PRELOAD_LIB (empty in the plain run) and NK_PRELOAD_DIR.
set -euo pipefail
export LC_ALL=C TZ=UTC

# nk_target CMD [ARGS...]: runs the program under test, with
# LD_PRELOAD=$NK_PRELOAD_LIB in the preload run.
nk_target() {
	if [ -n "${NK_PRELOAD_LIB:-}" ]; then
		LD_PRELOAD="$NK_PRELOAD_LIB" "$@"
	else
		"$@"
	fi
}

# nk_need PROG...: exits 77 (skip) when a program is not installed.
nk_need() {
	local p
	for p in "$@"; do
		if ! command -v "$p" >/dev/null 2>&1; then
			echo "SKIPPED: $p is not installed" >&2
			exit 77
		fi
	done
}

# nk_digest FILE LABEL: a line count, a checksum and the first and last
# lines of FILE (big outputs are compared through this, not printed whole).
nk_digest() {
	echo "== $2: $(wc -l <"$1") lines, $(wc -c <"$1") bytes, sha256 $(sha256sum <"$1" | cut -c1-32)"
	head -n 3 "$1"
	echo "..."
	tail -n 3 "$1"
}

# nk_size DEFAULT: a workload's size, DEFAULT divided by NK_PRELOAD_DIVISOR
# (run_compare.sh's smaller run sets it to check that numakeg's counts grow
# with the work).
nk_size() {
	echo $(($1 / ${NK_PRELOAD_DIVISOR:-1}))
}

# nk_stats_allocs FILE: the allocation count in one of numakeg's JSON
# statistics dumps (stats_json.py knows where the format keeps it).
nk_stats_allocs() {
	python3 "$NK_PRELOAD_DIR/stats_json.py" allocs "$1"
}
