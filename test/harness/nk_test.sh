# shellcheck shell=bash
# The shell tests' harness (doc/DESIGN.md, "Tests"), the counterpart of
# nk_test.h; sourced by the install tests (through their common.sh), the
# start-up and stats-file tests, and bench/workloads/lib.sh (the preload
# tests' workloads, which skip in the same way).
#
#   nk_fail MESSAGE...  prints "FAIL <test>: MESSAGE" on stderr, exits 1
#   nk_skip REASON...   prints "SKIPPED: <test>: REASON", exits 77 (ctest's
#                       SKIP_RETURN_CODE for the tests that may skip)
#   nk_need PROG...     skips unless every PROG is installed
#   nk_run LOG CMD...   runs CMD with its output in LOG, shown when it fails
#
# nk_test, the name in the messages, is the script's name unless the
# sourcing script set it first.

nk_test=${nk_test:-$(basename -- "$0" .sh)}

nk_fail() {
	echo "FAIL $nk_test: $*" >&2
	exit 1
}

nk_skip() {
	echo "SKIPPED: $nk_test: $*"
	exit 77
}

nk_need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 ||
			nk_skip "$p is not installed (tools/deps.sh test installs it)"
	done
}

nk_run() {
	local log=$1 rc=0
	shift
	"$@" >"$log" 2>&1 || rc=$?
	if ((rc != 0)); then
		cat "$log" >&2
		nk_fail "exit $rc: $*"
	fi
}
