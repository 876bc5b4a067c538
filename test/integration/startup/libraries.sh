#!/usr/bin/env bash
# startup_libraries: a process started under LD_PRELOAD=libnumakeg.so loads
# no library but numakeg and what the program itself needs: not hwloc (and
# libudev and libm behind it) on a machine of one NUMA node, nor with fake
# domains, not libnuma anywhere, not the C++ run-time library (which the
# exported operator new reaches through weak references).
#   libraries.sh LIBNUMAKEG
set -u
nk_test=startup_libraries
# shellcheck source=test/harness/nk_test.sh
. "${BASH_SOURCE[0]%/*}/../../harness/nk_test.sh"
lib=${1:?usage: libraries.sh LIBNUMAKEG}
online=$(cat /sys/devices/system/node/online 2>/dev/null || echo "?")
if [[ $online != 0 ]]; then
	# More than one node (or no sysfs): numakeg loads hwloc, as it should.
	nk_skip "this machine's online NUMA nodes are '$online', not one node"
fi
# A sanitizer build links its run-time, which brings the C++ run-time
# library and libm: those are then numakeg's own dependencies, not loaded
# by start-up code, and only the NUMA libraries are checked.
unwanted=(libhwloc libnuma.so libudev)
deps=$(ldd "$lib" 2>/dev/null)
for l in libm.so libstdc++ libgcc_s; do
	if [[ $deps == *"$l"* ]]; then
		echo "note: $lib depends on $l itself (a sanitizer's run-time?): not checked"
	else
		unwanted+=("$l")
	fi
done
fail=0
for env in "" "NUMAKEG_FAKE_DOMAINS=2"; do
	maps=$(env $env LD_PRELOAD="$lib" cat /proc/self/maps) || nk_fail "cat failed under numakeg ($env)"
	[[ $maps == *libnumakeg* ]] || { echo "FAIL: numakeg is not in the maps ($env): is it preloaded?"; fail=1; }
	for unwanted in "${unwanted[@]}"; do
		if [[ $maps == *"$unwanted"* ]]; then
			echo "FAIL: $unwanted is loaded at start-up (${env:-one node}):"
			grep -F "$unwanted" <<<"$maps" | head -3
			fail=1
		fi
	done
done
((fail == 0)) && echo "startup_libraries: numakeg loads nothing a one-node start does not need"
exit $fail
