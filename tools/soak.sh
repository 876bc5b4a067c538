#!/usr/bin/env bash
# tools/soak.sh MINUTES [THREADS]
#
# The soak test, outside CI: builds numakeg (Release) with its soak driver
# into build-soak/ and runs test/stress/soak.c's nk_soak for MINUTES minutes
# with THREADS worker threads (default 8): random sizes up to 1 MiB,
# cross-thread frees, realloc, calloc, fork, thread exits, every block
# filled with its own pattern and checked when it is freed.  It prints the
# resident set size about 30 times over the run and fails if a block comes
# back changed, a forked child fails or hangs, or the RSS of the last third
# of the run exceeds the first third's by more than half plus 64 MiB.
# NUMAKEG_* variables pass through (e.g. NUMAKEG_SECURE=1,
# NUMAKEG_FAKE_DOMAINS=4).  ctest runs the same driver for 20 s (soak_short).
set -euo pipefail

usage() {
	echo "usage: tools/soak.sh MINUTES [THREADS]   (MINUTES >= 1, THREADS 2..64)" >&2
	exit 2
}
(($# >= 1 && $# <= 2)) || usage
minutes=$1
threads=${2:-8}
[[ $minutes =~ ^[0-9]+$ ]] && ((minutes >= 1)) || usage
[[ $threads =~ ^[0-9]+$ ]] && ((threads >= 2 && threads <= 64)) || usage

root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"

# shellcheck source=tools/deps.sh
. "$root/tools/deps.sh"
nk_deps build

mkdir -p build-soak
echo "soak.sh: building nk_soak (Release) in $root/build-soak"
if ! cmake -S . -B build-soak -DCMAKE_BUILD_TYPE=Release -DNUMAKEG_BUILD_BENCH=OFF \
	>build-soak/configure.log 2>&1; then
	cat build-soak/configure.log >&2
	exit 1
fi
if ! cmake --build build-soak -j"$(nproc)" --target nk_soak >build-soak/build.log 2>&1; then
	cat build-soak/build.log >&2
	exit 1
fi

echo "soak.sh: running for $minutes minute(s) with $threads worker threads"
exec build-soak/test/stress/nk_soak "$((minutes * 60))" "$threads"
