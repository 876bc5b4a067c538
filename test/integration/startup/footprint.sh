#!/usr/bin/env bash
# startup_footprint: what a process start under numakeg touches and reads
# (issue 10: start-up cost).  On a one-node machine, a start that allocates
# nothing must touch at most MAX_PAGES pages of numakeg's zero data (.bss
# and .lbss: 5 to 7 with per-domain arrays sized to the machine and the big
# arrays kept apart; 121 when every zone carried 64 domains' depots), and,
# where strace is installed, read no sysfs file (get_mempolicy tells one
# node; the cpus are counted only when a thread is pinned).
#   footprint.sh LIBNUMAKEG PROBE
set -u
# shellcheck source=../../harness/nk_test.sh
. "$(dirname "$0")/../../harness/nk_test.sh"
lib=${1:?usage: footprint.sh LIBNUMAKEG PROBE}
probe=${2:?usage: footprint.sh LIBNUMAKEG PROBE}
MAX_PAGES=12
online=$(cat /sys/devices/system/node/online 2>/dev/null || echo "?")
if [[ $online != 0 ]]; then
	# hwloc's topology fills the boot arena on a machine of several nodes.
	nk_skip "this machine's online NUMA nodes are '$online', not one node"
fi
out=$(env -u NUMAKEG_FAKE_DOMAINS LD_PRELOAD="$lib" "$probe")
rc=$?
if ((rc == 77)); then
	echo "$out"
	exit 77
fi
if ((rc != 0)) || ! [[ $out =~ ^[0-9]+$ ]]; then
	nk_fail "the probe failed under numakeg (rc $rc): $out"
fi
fail=0
echo "pages of numakeg's .bss touched by a start: $out (at most $MAX_PAGES)"
if ((out > MAX_PAGES)); then
	echo "FAIL: a start touches $out pages of numakeg's .bss, more than $MAX_PAGES"
	fail=1
fi
if command -v strace >/dev/null 2>&1; then
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	if strace -f -o "$log" -e trace=get_mempolicy,open,openat \
	    -E LD_PRELOAD="$lib" "$probe" >/dev/null 2>&1; then
		if grep -q 'get_mempolicy(.*= -1' "$log"; then
			echo "note: get_mempolicy refused here (seccomp?): sysfs is read, as it should be"
		elif grep -E 'open(at)?\(.*"/sys/devices/system/(node|cpu)/' "$log"; then
			echo "FAIL: a one-node start read sysfs (above)"
			fail=1
		else
			echo "no sysfs file read at start"
		fi
	else
		echo "note: strace cannot trace here: the sysfs check is skipped"
	fi
fi
((fail == 0)) || nk_fail "see above"
