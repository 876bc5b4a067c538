# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Sourced by the install tests.  Each test script is called as
#   SCRIPT SOURCE_DIR BUILD_DIR WORK_DIR VERSION [C_COMPILER [LIBDIR]]
# where WORK_DIR/prefix is the install that install_tree.sh made (the
# install_tree fixture), VERSION is project(VERSION) and LIBDIR is
# CMAKE_INSTALL_LIBDIR (relative to the prefix).
set -euo pipefail
export LC_ALL=C

if (($# < 4)); then
	echo "usage: $0 SOURCE_DIR BUILD_DIR WORK_DIR VERSION [C_COMPILER [LIBDIR]]" >&2
	exit 2
fi
nk_src=$1 nk_build=$2 nk_work=$3 nk_version=$4 nk_cc=${5:-cc} nk_libdir=${6:-lib}
nk_prefix=$nk_work/prefix
nk_test=${0##*/}
nk_test=${nk_test%.sh}
nk_test=install_${nk_test#install_}

# nk_fail, nk_skip, nk_need and nk_run.
# shellcheck source=test/harness/nk_test.sh
. "${BASH_SOURCE[0]%/*}/../../harness/nk_test.sh"

# A scratch directory of this test's own under WORK_DIR, emptied first.
nk_scratch() {
	local dir=$nk_work/$nk_test
	rm -rf -- "$dir"
	mkdir -p -- "$dir"
	printf '%s\n' "$dir"
}

[[ -d $nk_prefix || $nk_test == install_tree ]] ||
	nk_fail "no install at $nk_prefix (the install_tree test makes it)"
