# A C++ program (cxx_workload, not linked to numakeg) with std containers
# and several std::threads.  $1: the executable.
. "$NK_PRELOAD_DIR/common.sh"
exe=${1:?usage: wl_cxx.sh CXX_WORKLOAD [ARGS...]}
shift
[ -x "$exe" ] || { echo "$exe: not built" >&2; exit 1; }
nk_target "$exe" "$@"
