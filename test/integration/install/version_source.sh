#!/usr/bin/env bash
# install_version_source: the version has one source, project(VERSION) in
# CMakeLists.txt.  No file the library, the launcher, the tools, the CMake
# files or the man pages are made from may spell a version of its own: the
# project's version itself, or any quoted "X.Y.Z" literal (a second number
# that a version bump would leave behind, as the statistics' header once
# did).  Needs no install.
#   version_source.sh SOURCE_DIR VERSION
set -euo pipefail
export LC_ALL=C
nk_test=install_version_source
# shellcheck source=test/harness/nk_test.sh
. "${BASH_SOURCE[0]%/*}/../../harness/nk_test.sh"
(($# == 2)) || nk_fail "usage: $0 SOURCE_DIR VERSION"
src=$1 version=$2
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || nk_fail "project(VERSION) is '$version', not X.Y.Z"
grep -qE "^project\(numakeg VERSION ${version//./\\.}[ )]" "$src/CMakeLists.txt" ||
	nk_fail "CMakeLists.txt's project() does not carry $version"

dirs=()
for d in lib include tools cmake doc/man; do
	[[ -d $src/$d ]] || nk_fail "$src/$d is missing"
	dirs+=("$src/$d")
done
hits=$(grep -rnF -e "$version" -- "${dirs[@]}" || true)
[[ -z $hits ]] || nk_fail "the version $version spelt outside CMakeLists.txt: $hits"
hits=$(grep -rnE -e '"[0-9]+\.[0-9]+\.[0-9]+"' -- "${dirs[@]}" || true)
[[ -z $hits ]] || nk_fail "a version literal outside CMakeLists.txt: $hits"
echo "install_version_source: $version is spelt only in CMakeLists.txt"
