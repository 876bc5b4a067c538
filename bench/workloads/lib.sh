# shellcheck shell=bash
# Sourced by every workload script here (NAME.sh).  A workload is a real,
# unmodified program driven through deterministic work: the same standard
# output under every allocator.  Two drivers run them:
#   test/integration/preload/run_compare.sh (the preload tests): without and
#       with numakeg preloaded, outputs compared, numakeg's stats checked;
#   bench/workloads.sh: under each allocator, the programs timed.
# The driver says, through the environment:
#   NK_WL_LIB      what to preload into the program under test (empty: none)
#   NK_WL_TIMES    a file: each run of the program under test appends
#                  "wall user sys maxrss_KiB" (/usr/bin/time); unset: untimed
#   NK_WL_SCALE    multiplies every size (default 1: the test's size)
#   NK_WL_DIVISOR  divides every size (default 1; the tests' small run: 4)
# A workload runs in an empty current directory, starts the program under
# test only through nk_target (data generators and clients such as
# redis-cli keep the C library's malloc), and skips (exit 77) through
# nk_need when a program is missing.
set -euo pipefail
export LC_ALL=C TZ=UTC

NK_WL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nk_test=workload-$(basename -- "$0" .sh)
# nk_need, nk_skip, nk_fail.
# shellcheck source=test/harness/nk_test.sh
. "$NK_WL_DIR/../../test/harness/nk_test.sh"

# nk_target_argv CMD [ARGS...]: NK_ARGV, the command line that runs CMD as
# the program under test (preloaded and timed as the driver asked).  For a
# program started in the background: "${NK_ARGV[@]}" & (with NK_WL_TIMES,
# $! is then /usr/bin/time's pid, and the program is its child).
nk_target_argv() {
	NK_ARGV=()
	if [ -n "${NK_WL_TIMES:-}" ]; then
		NK_ARGV+=(/usr/bin/time -a -o "$NK_WL_TIMES" -f '%e %U %S %M')
	fi
	NK_ARGV+=(env)
	if [ -n "${NK_WL_LIB:-}" ]; then
		NK_ARGV+=("LD_PRELOAD=$NK_WL_LIB")
	fi
	NK_ARGV+=("$@")
}

# nk_target CMD [ARGS...]: runs the program under test.
nk_target() {
	nk_target_argv "$@"
	"${NK_ARGV[@]}"
}

# nk_digest FILE LABEL: a line count, a checksum and the first and last
# lines of FILE (big outputs are compared through this, not printed whole).
nk_digest() {
	echo "== $2: $(wc -l <"$1") lines, $(wc -c <"$1") bytes, sha256 $(sha256sum <"$1" | cut -c1-32)"
	head -n 3 "$1"
	echo "..."
	tail -n 3 "$1"
}

# nk_size DEFAULT: a workload's size: DEFAULT (the test's size) times
# NK_WL_SCALE, divided by NK_WL_DIVISOR (run_compare.sh's small run checks
# that numakeg's counts grow with the work).
nk_size() {
	echo $(($1 * ${NK_WL_SCALE:-1} / ${NK_WL_DIVISOR:-1}))
}
