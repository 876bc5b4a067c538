#!/usr/bin/env bash
# Runs a program in a QEMU guest whose kernel sees two NUMA nodes: Debian's
# cloud kernel, a busybox initramfs holding the program and the shared
# libraries it needs, software emulation (TCG), serial console on stdout.
# Exit: the program's status; 77 when QEMU, the kernel or busybox is missing
# (the test is then reported as skipped, with the reason).
#   tools/numa-vm.sh PROGRAM [ARGS...]
#   NUMA_VM_NODES=4 tools/numa-vm.sh ...   four nodes of one cpu, with a
#       distance matrix whose nearest node to node 0 is node 3 (then 1, then 2),
#       so that distance order and index order differ
#   NUMA_VM_NO_HWLOC=1 tools/numa-vm.sh ...   the guest without hwloc's
#       library (what numakeg does where libhwloc15 is not installed)
set -euo pipefail
trap 'echo "numa-vm: line $LINENO failed (status $?)" >&2' ERR

prog=${1:?usage: numa-vm.sh PROGRAM [ARGS...]}
shift
qemu=$(command -v qemu-system-x86_64 || true)
kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
busybox=$(command -v busybox || true)
[ -x /bin/busybox ] && busybox=/bin/busybox
if [ -z "$qemu" ] || [ -z "$kernel" ] || [ -z "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep static >/dev/null; then
	echo "SKIPPED: needs qemu-system-x86, linux-image-cloud-amd64 and busybox-static (tools/deps.sh installs them)"
	exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,tmp}
cp "$busybox" "$root/bin/busybox"
for t in sh mount poweroff cat echo sleep; do ln -s busybox "$root/bin/$t"; done
cp "$prog" "$root/bin/test"
# The program's shared libraries, at the paths the loader looks for them,
# and hwloc with its own: numakeg loads it with dlopen on a machine of more
# than one node, so ldd of the program does not list it.
# awk reads to the end: an early exit would kill ldconfig with SIGPIPE, and
# under pipefail that ended the script, silently, in one CI run.
hwloc=$(ldconfig -p | awk '$1 == "libhwloc.so.15" && /x86-64/ && !found { print $NF; found = 1 }')
[ -z "${NUMA_VM_NO_HWLOC:-}" ] || hwloc=
{
	ldd "$prog"
	if [ -n "$hwloc" ]; then echo " $hwloc"; ldd "$hwloc"; fi
} | awk '/=>/ { print $3 } /^[ \t]*\// { print $1 }' | sort -u | while read -r lib; do
	[ -n "$lib" ] && [ -e "$lib" ] || continue
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
args=""
for a in "$@"; do args="$args '$a'"; done
cat >"$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
/bin/test$args
echo "NUMA_VM_EXIT=\$?"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd"

# Two nodes of two cpus and 512 MiB each, or four of one cpu and 256 MiB;
# TCG: /dev/kvm cannot run it here.
numa=(-object memory-backend-ram,id=m0,size=512M -object memory-backend-ram,id=m1,size=512M
	-numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1)
if [ "${NUMA_VM_NODES:-2}" = 4 ]; then
	numa=()
	for n in 0 1 2 3; do
		numa+=(-object "memory-backend-ram,id=m$n,size=256M" -numa "node,nodeid=$n,cpus=$n,memdev=m$n")
	done
	# From node 0: node 3 at 20, node 1 at 30, node 2 at 40 (and symmetric).
	for d in 0,1,30 0,2,40 0,3,20 1,2,20 1,3,30 2,3,30; do
		IFS=, read -r a b v <<<"$d"
		numa+=(-numa "dist,src=$a,dst=$b,val=$v")
	done
fi
out=$work/console
# no_timer_check: under a loaded host TCG runs the guest slowly enough that
# the kernel's IO-APIC timer check fails and it panics at boot ("IO-APIC +
# timer doesn't work"); the check is about the hardware, not numakeg.
boot() {
	timeout 300 "$qemu" -accel tcg -machine q35 -cpu max -smp 4 -m 1024 \
		"${numa[@]}" \
		-kernel "$kernel" -initrd "$work/initrd" \
		-append "console=ttyS0 quiet panic=-1 no_timer_check rdinit=/init" \
		-nographic -no-reboot -monitor none -serial stdio </dev/null >"$out" 2>&1 || true
	tr -d '\r' <"$out" | sed -n 's/^NUMA_VM_EXIT=\([0-9]*\)$/\1/p' | tail -n 1
}
status=$(boot)
if [ -z "$status" ] && grep -q 'Kernel panic' "$out"; then
	# A guest whose kernel panicked is booted once more, and says so; a
	# program that ran and failed, or hung, is not.
	echo "numa-vm: the guest did not come up; its console's last lines, then one more boot:" >&2
	tail -n 8 "$out" >&2
	status=$(boot)
fi
tr -d '\r' <"$out" | grep -v '^\[' || true
if [ -z "$status" ]; then
	echo "numa-vm: the guest did not report an exit status (boot failure or timeout); console:" >&2
	tail -n 30 "$out" >&2
	exit 1
fi
exit "$status"
