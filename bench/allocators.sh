# shellcheck shell=bash
# Sourced by bench/alloc_compare.sh and bench/workloads.sh: the allocators a
# comparison runs (glibc, jemalloc, mimalloc, tcmalloc, numakeg, and nk-base,
# another build of numakeg), found once here, and the helpers both scripts
# use to run and summarize.
#
# The sourcing script sets root (the source tree), tmp (a scratch directory)
# and RUN_TIMEOUT, and may set NUMAKEG_LIB and NUMAKEG_BASE_LIB; then
#   nk_check_tools                  exits 2 unless /usr/bin/time and the other
#                                   tools are there (installs time as root)
#   nk_find_allocators ALLOC...     fills LIB[ALLOC], the library to preload
#                                   (empty for glibc), or NA[ALLOC], why that
#                                   allocator cannot run; a missing baseline
#                                   is installed with apt-get as root
#   available ALLOC                 true when LIB holds it
#   nk_describe_allocators ALLOC... one header line each: library, package
#                                   version, numakeg's own version line
#                                   (GLIBC_HOW: how glibc runs, default
#                                   "no preload")
#   status_why RC TIMEFILE          why a run failed, in words
#   median, spread, hash_of         numbers and outputs of the runs
# The functions are called from the sourcing script only.
# shellcheck disable=SC2034,SC2154  # LIB and NA are for the sourcing script; root and tmp come from it
declare -A LIB NA
libdir=/usr/lib/x86_64-linux-gnu
NUMAKEG_LIB=${NUMAKEG_LIB:-$root/build/lib/libnumakeg.so}

log() { printf '%s\n' "$*" >&2; }

is_root() { [ "$(id -u)" = 0 ]; }

# apt_install PKG...: as root only; retries once after apt-get update.
apt_install() {
	is_root || return 1
	command -v apt-get >/dev/null 2>&1 || return 1
	log "installing $* (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 && return 0
	DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1
}

nk_check_tools() {
	local t
	if [ ! -x /usr/bin/time ]; then
		apt_install time
		if [ ! -x /usr/bin/time ]; then
			log "/usr/bin/time is missing (Debian package 'time'; run as root to install it)"
			exit 2
		fi
	fi
	for t in timeout sha256sum perl awk; do
		command -v "$t" >/dev/null 2>&1 || { log "$t is missing"; exit 2; }
	done
}

# find_lib GLOB...: the first existing file among the globs.
find_lib() {
	local g f
	for g in "$@"; do
		for f in $g; do
			[ -f "$f" ] && { printf '%s\n' "$f"; return 0; }
		done
	done
	return 1
}

# baseline NAME PACKAGE GLOB...: LIB[NAME], installing PACKAGE when missing.
baseline() {
	local name=$1 pkg=$2 f
	shift 2
	if ! f=$(find_lib "$@"); then
		if is_root; then
			apt_install "$pkg"
			if ! f=$(find_lib "$@"); then
				NA[$name]="$1 not found, and apt-get install $pkg did not provide it"
				return
			fi
		else
			NA[$name]="$1 not found (Debian package $pkg; run as root to install it)"
			return
		fi
	fi
	LIB[$name]=$f
}

# absolute FILE: FILE's absolute path.
absolute() { printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"; }

nk_find_allocators() {
	local a
	for a in "$@"; do
		case $a in
		glibc) LIB[glibc]= ;;
		jemalloc) baseline jemalloc libjemalloc2 "$libdir/libjemalloc.so.2" ;;
		mimalloc) baseline mimalloc libmimalloc2.0 "$libdir/libmimalloc.so.2" \
			"$libdir/libmimalloc.so.2.*" "$libdir/libmimalloc.so" ;;
		tcmalloc) baseline tcmalloc libtcmalloc-minimal4 "$libdir/libtcmalloc_minimal.so.4" ;;
		nk-base)
			if [ -f "${NUMAKEG_BASE_LIB:-}" ]; then
				LIB[nk-base]=$(absolute "$NUMAKEG_BASE_LIB")
			else
				NA[nk-base]="NUMAKEG_BASE_LIB=${NUMAKEG_BASE_LIB:-} does not exist"
			fi ;;
		numakeg)
			if [ -f "$NUMAKEG_LIB" ]; then
				LIB[numakeg]=$(absolute "$NUMAKEG_LIB")
			else
				NA[numakeg]="$NUMAKEG_LIB does not exist (build it: cmake -S $root -B $root/build -DCMAKE_BUILD_TYPE=Release && cmake --build $root/build; or set NUMAKEG_LIB)"
			fi ;;
		esac
	done
	# A preload that ld.so cannot load is ignored with a message and the
	# program runs on: check that malloc really binds to each library.
	for a in "$@"; do
		[ -n "${LIB[$a]:-}" ] || continue
		# (grep without -q: with pipefail, a writer killed by SIGPIPE fails the test)
		if ! LD_DEBUG=bindings LD_PRELOAD=${LIB[$a]} perl -e 'my @a = (1) x 100' 2>&1 >/dev/null |
			grep -F "to ${LIB[$a]} [0]: normal symbol \`malloc'" >/dev/null; then
			NA[$a]="malloc does not bind to ${LIB[$a]} under LD_PRELOAD"
			unset "LIB[$a]"
		fi
	done
}

available() { [ -z "${NA[$1]:-}" ]; }

# WORKLOAD ALLOCATOR: why numakeg's ratio against ALLOCATOR cannot be given
# (one of the two is missing, or its run FAILED: the caller's FAIL array),
# or nothing when it can.
ratio_na_why() {
	local wl=$1 b=$2 who=
	if ! available numakeg || ! available "$b"; then
		echo "$(available numakeg && echo "$b" || echo numakeg) not available"
		return
	fi
	[ -n "${FAIL[$wl,numakeg]:-}" ] && who=numakeg
	[ -n "${FAIL[$wl,$b]:-}" ] && who="${who:+$who and }$b"
	[ -z "$who" ] || echo "$who FAILED"
}

pkg_version() { # FILE: "package version" of a library, or nothing
	local p
	p=$(dpkg -S "$1" 2>/dev/null | head -n 1 | cut -d: -f1) || return 0
	[ -n "$p" ] && printf '%s %s' "$p" "$(dpkg-query -W -f '${Version}' "$p" 2>/dev/null)"
}

# nk_describe_allocators ALLOC...: for the header of a table.
nk_describe_allocators() {
	local a v g
	for a in "$@"; do
		if [ "$a" = glibc ]; then
			printf '  %-9s %s (libc6 %s)\n' "$a" "${GLIBC_HOW:-no preload}" "$(dpkg-query -W -f '${Version}' libc6 2>/dev/null || echo '?')"
		elif available "$a"; then
			v=$(pkg_version "${LIB[$a]}")
			if [ "$a" = numakeg ] || [ "$a" = nk-base ]; then
				rm -f "$tmp/probe.txt"
				NUMAKEG_STATS=text NUMAKEG_STATS_FILE=$tmp/probe.txt LD_PRELOAD=${LIB[$a]} /bin/true
				v=$(head -n 1 "$tmp/probe.txt" 2>/dev/null | sed 's/: pid [0-9]*,/,/')
				case ${LIB[$a]} in "$root"/*)
					g=$(git -C "$root" describe --always --dirty 2>/dev/null) && v+=", tree $g" ;;
				esac
			fi
			printf '  %-9s %s%s\n' "$a" "${LIB[$a]}" "${v:+ ($v)}"
		else
			printf '  %-9s n/a: %s\n' "$a" "${NA[$a]}"
		fi
	done
}

# status_why RC TIMEFILE: a reason for a non-zero exit status.
status_why() {
	local rc=$1 sig
	sig=$(grep -o 'terminated by signal [0-9]*' "$2" 2>/dev/null | grep -o '[0-9]*$' | head -n 1)
	if [ -n "$sig" ]; then
		printf 'killed by signal %s (%s)' "$sig" "$(kill -l "$sig" 2>/dev/null)"
	elif [ "$rc" = 124 ]; then
		printf 'timed out after %s s' "$RUN_TIMEOUT"
	elif [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then
		printf 'killed by signal %s (%s)' "$((rc - 128))" "$(kill -l "$((rc - 128))" 2>/dev/null)"
	else
		printf 'exit status %s' "$rc"
	fi
}

median() { # VALUES...: their median
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) printf "%.4f\n", v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
spread() { # VALUES...: (max - min) / median, in percent
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      if (m > 0) printf "%.0f%%\n", 100 * (v[NR] - v[1]) / m; else print "-" }'
}
hash_of() { sha256sum <"$1" | cut -c1-16; }
