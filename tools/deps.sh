#!/usr/bin/env bash
# tools/deps.sh: installs the Debian packages numakeg needs, and only those
# that are missing.  tools/run.sh and tools/test.sh source this file and call
#   nk_deps build        # what the build needs
#   nk_deps build test   # ... and what the tests need
# Run on its own it does the same: tools/deps.sh [build] [test]  (default: build).
#
# Debian 12 (bookworm).  Runs as root, or through sudo when not root.  It is
# non-interactive: apt-get update runs once, and only when something is missing.

# python3-matplotlib: tools/numakeg-stat --png, which run.sh users want too.
NK_BUILD_PKGS=(cmake gcc g++ make pkg-config libnuma-dev libhwloc-dev
	libjemalloc-dev libjemalloc2 libbenchmark-dev python3-matplotlib)
# The NUMA VM test (tools/numa-vm.sh) boots Debian's cloud kernel under QEMU from a
# busybox initramfs.
NK_TEST_PKGS=(python3 sqlite3 perl git redis-server redis-tools coreutils bash procps
	qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio file python3-matplotlib)

# The install tests (test/integration/install) render the man pages (man-db), read ELF
# headers (binutils: readelf, which CPack also uses for the .deb's shlibs),
# unpack the .deb (dpkg-deb, in dpkg) and compute its Depends
# (dpkg-shlibdeps, in dpkg-dev).
NK_TEST_PKGS+=(man-db binutils dpkg dpkg-dev)

# Prints the packages of "$@" that dpkg does not list as installed.
nk_deps_missing() {
	local pkg status
	for pkg in "$@"; do
		# One line per installed architecture; any installed one will do.
		status=$(dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null) || status=
		if [[ $'\n'$status$'\n' != *$'\n'"install ok installed"$'\n'* ]]; then
			printf '%s\n' "$pkg"
		fi
	done
}

# nk_deps [build] [test]: installs what is missing from those package sets.
nk_deps() {
	local -a want=() missing=() asroot=()
	local set
	(($# > 0)) || set -- build
	for set in "$@"; do
		case $set in
		build) want+=("${NK_BUILD_PKGS[@]}") ;;
		test) want+=("${NK_TEST_PKGS[@]}") ;;
		*)
			echo "deps: unknown package set '$set' (build or test)" >&2
			return 2
			;;
		esac
	done

	if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
		echo "deps: no dpkg/apt-get here (not Debian?); make sure these are installed: ${want[*]}" >&2
		return 0
	fi

	mapfile -t missing < <(nk_deps_missing "${want[@]}")
	if ((${#missing[@]} == 0)); then
		return 0
	fi

	if ((EUID != 0)); then
		if command -v sudo >/dev/null 2>&1; then
			asroot=(sudo -n)
		else
			echo "deps: missing packages: ${missing[*]}" >&2
			echo "deps: not root and no sudo; install them as root:" >&2
			echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
			return 1
		fi
	fi

	echo "deps: installing ${missing[*]}"
	local -a env=(env DEBIAN_FRONTEND=noninteractive CI=true)
	local -a aptq=(-q -o Dpkg::Use-Pty=0)
	local log
	log=$(mktemp "${TMPDIR:-/tmp}/numakeg-deps.XXXXXX") || return 1
	# apt's own output goes to a log that is shown only when it fails.
	if ! "${asroot[@]}" "${env[@]}" apt-get "${aptq[@]}" update </dev/null >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "deps: apt-get update failed" >&2
		return 1
	fi
	if ! "${asroot[@]}" "${env[@]}" apt-get "${aptq[@]}" install -y --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing[@]}" </dev/null >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "deps: apt-get install ${missing[*]} failed" >&2
		return 1
	fi
	rm -f "$log"

	mapfile -t missing < <(nk_deps_missing "${missing[@]}")
	if ((${#missing[@]} != 0)); then
		echo "deps: still missing after apt-get install: ${missing[*]}" >&2
		return 1
	fi
	echo "deps: installed"
}

# Run directly rather than sourced.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -euo pipefail
	nk_deps "$@"
fi
