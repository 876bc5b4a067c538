# shellcheck shell=bash
# A C++ program (cxx_workload, not linked to numakeg) with std containers
# and several std::threads.  $1: the executable.
# shellcheck source=bench/workloads/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exe=${1:?usage: wl_cxx.sh CXX_WORKLOAD [ARGS...]}
shift
[ -x "$exe" ] || { echo "$exe: not built" >&2; exit 1; }
if [ $# = 0 ]; then
	set -- 4 "$(nk_size 50000)" 3   # the program's defaults, scaled
fi
nk_target "$exe" "$@"
