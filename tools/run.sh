#!/usr/bin/env bash
# tools/run.sh [program [args...]]
#
# Installs the build dependencies (Debian 12), builds numakeg (Release) into
# build/, then runs the program through the launcher, build/bin/numakeg
# (tools/numakeg), with numakeg as its malloc (LD_PRELOAD) and --stats=text,
# so the per-domain statistics print when it exits.
# With no program it runs the bundled demo workload, build/bench/nk_demo; on
# a machine with a single NUMA node the demo pretends there are 4 domains
# (NUMAKEG_FAKE_DOMAINS=4) unless NUMAKEG_FAKE_DOMAINS is already set.
#
# Works from any directory: the program and its arguments are taken relative
# to the directory it is called from.  Exits with the program's exit status.
set -euo pipefail

caller_dir=$PWD
root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"

# shellcheck source=tools/deps.sh
. "$root/tools/deps.sh"
nk_deps build

# Runs "$@" with its output in a log that is shown only when it fails.
quietly() {
	local log=$1 rc=0
	shift
	"$@" >"$log" 2>&1 || rc=$?
	if ((rc != 0)); then
		cat "$log" >&2
		echo "run.sh: failed ($rc): $*  (log: $log)" >&2
		exit "$rc"
	fi
}

mkdir -p build
echo "run.sh: building numakeg (Release) in $root/build"
quietly "$root/build/configure.log" cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
quietly "$root/build/build.log" cmake --build build -j"$(nproc)"

# The launcher's copy in the build tree: it finds build/lib/libnumakeg.so
# beside it, appends it to LD_PRELOAD and execs the program.
launcher=$root/build/bin/numakeg
if [[ ! -x $launcher ]]; then
	echo "run.sh: the launcher $launcher was not made by the build" >&2
	exit 1
fi
opts=()
# NUMAKEG_STATS set by the caller (json, 0, ...) is left to the library.
[[ -n ${NUMAKEG_STATS+set} ]] || opts+=(--stats=text)

if (($# == 0)); then
	demo=$root/build/bench/nk_demo
	if [[ ! -x $demo ]]; then
		echo "run.sh: the demo $demo was not built" >&2
		exit 1
	fi
	set -- "$demo"
	nodes=0
	for n in /sys/devices/system/node/node[0-9]*; do
		[[ -d $n ]] && nodes=$((nodes + 1))
	done
	if ((nodes <= 1)) && [[ -z ${NUMAKEG_FAKE_DOMAINS+set} ]]; then
		echo "run.sh: this machine has a single NUMA node; the demo runs with NUMAKEG_FAKE_DOMAINS=4"
		opts+=(--fake-domains 4)
	fi
fi

cd -- "$caller_dir"
exec "$launcher" "${opts[@]}" -- "$@"
