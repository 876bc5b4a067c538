#!/usr/bin/env bash
# under_fault.sh PROGRAM [ARGS...]: runs one of the malloc or zone suites'
# programs with the NUMAKEG_FAULT ctest set, and passes when the program
# passes (every block it checks and every counter it checks came out right)
# and the injection really happened: the library's exit line names more
# than 0 calls that failed on purpose.  A suite whose failures were never
# injected would prove nothing.
set -uo pipefail
# shellcheck source=test/harness/nk_test.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../../harness/nk_test.sh"
nk_test="under_fault $(basename -- "$1")"

[ -n "${NUMAKEG_FAULT:-}" ] || nk_fail "NUMAKEG_FAULT is not set (ctest sets it)"
err=$(mktemp)
trap 'rm -f "$err"' EXIT
rc=0
"$@" 2>"$err" || rc=$?
cat "$err" >&2
((rc == 0)) || nk_fail "the program failed under NUMAKEG_FAULT=$NUMAKEG_FAULT (exit $rc)"
line=$(grep '^numakeg: NUMAKEG_FAULT: [0-9]* system calls failed on purpose' "$err" | tail -n 1)
[ -n "$line" ] || nk_fail "no report of the injected failures at exit"
n=$(sed 's/^numakeg: NUMAKEG_FAULT: \([0-9]*\) .*/\1/' <<<"$line")
((n > 0)) || nk_fail "no system call failed: the injection never reached the paths under test"
echo "under_fault: $* passed with $n injected failures"
