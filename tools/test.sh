#!/usr/bin/env bash
# tools/test.sh [ctest args...]
#
# Installs the build and test dependencies (Debian 12), builds numakeg with
# its tests (Debug, UBSan on) into build-test/, and runs every test with
# ctest.  Extra arguments go to ctest, e.g. tools/test.sh -R preload.
# Exits non-zero when the build or any test fails.
set -euo pipefail

root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"

# shellcheck source=tools/deps.sh
. "$root/tools/deps.sh"
nk_deps build test

# Runs "$@" with its output in a log that is shown only when it fails.
quietly() {
	local log=$1 rc=0
	shift
	"$@" >"$log" 2>&1 || rc=$?
	if ((rc != 0)); then
		cat "$log" >&2
		echo "test.sh: failed ($rc): $*  (log: $log)" >&2
		exit "$rc"
	fi
}

mkdir -p build-test
echo "test.sh: building numakeg (Debug, UBSan) and its tests in $root/build-test"
quietly "$root/build-test/configure.log" \
	cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DNUMAKEG_UBSAN=ON
quietly "$root/build-test/build.log" cmake --build build-test -j"$(nproc)"

rc=0
ctest --test-dir build-test --output-on-failure --no-tests=error -j2 "$@" || rc=$?
if ((rc != 0)); then
	echo "test.sh: ctest failed ($rc)" >&2
fi
exit "$rc"
