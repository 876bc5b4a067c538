#!/usr/bin/env bash
# install_tree: `cmake --install BUILD --prefix` into a staging directory,
# which is then moved to WORK_DIR/prefix, so the other install tests use an
# install that is not where it was installed to (the files must find each
# other relative to themselves).  Checks the layout, the SONAME, and that no
# installed text file names the build tree, the source tree or the staging
# prefix.  The fixture the other install_* tests need.
# shellcheck source=test/integration/install/common.sh
. "${0%/*}/common.sh"
nk_need readelf

stage=$nk_work/staging
rm -rf -- "$stage" "$nk_prefix"
mkdir -p -- "$nk_work"
nk_run "$nk_work/install.log" cmake --install "$nk_build" --prefix "$stage"
mv -- "$stage" "$nk_prefix"

lib=$nk_libdir
expect=(
	"$lib/libnumakeg.so.$nk_version"
	"$lib/libnumakeg.so.${nk_version%%.*}"
	"$lib/libnumakeg.so"
	"$lib/libnumakeg.a"
	include/numakeg.h
	"$lib/pkgconfig/numakeg.pc"
	"$lib/cmake/numakeg/numakegConfig.cmake"
	"$lib/cmake/numakeg/numakegConfigVersion.cmake"
	"$lib/cmake/numakeg/numakegTargets.cmake"
	"$lib/cmake/numakeg/numakegStaticTargets.cmake"
	bin/numakeg
	share/man/man1/numakeg.1
	share/man/man3/numakeg.3
)
# The stats tool is installed once it is in the tree.
[[ -e $nk_src/tools/numakeg-stat ]] && expect+=(bin/numakeg-stat)
for f in "${expect[@]}"; do
	[[ -e $nk_prefix/$f ]] || nk_fail "$f was not installed"
done
[[ -x $nk_prefix/bin/numakeg ]] || nk_fail "bin/numakeg is not executable"
[[ ! -e $nk_src/tools/numakeg-stat || -x $nk_prefix/bin/numakeg-stat ]] ||
	nk_fail "bin/numakeg-stat is not executable"

soname=$(readelf -d "$nk_prefix/$lib/libnumakeg.so.$nk_version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == "libnumakeg.so.${nk_version%%.*}" ]] ||
	nk_fail "SONAME is '$soname', want libnumakeg.so.${nk_version%%.*}"
# Every process started under numakeg loads what it needs: hwloc is loaded
# with dlopen where there is more than one node, libnuma not at all.
needed=$(readelf -d "$nk_prefix/$lib/libnumakeg.so.$nk_version" | grep NEEDED || true)
[[ $needed != *hwloc* && $needed != *libnuma* ]] || nk_fail "libnumakeg.so links hwloc or libnuma: $needed"
# No RPATH or RUNPATH: the installed library names no directory.
runpath=$(readelf -d "$nk_prefix/$lib/libnumakeg.so.$nk_version" | grep -E '\((RPATH|RUNPATH)\)' || true)
[[ -z $runpath ]] || nk_fail "the installed libnumakeg.so has a search path: $runpath"

# Relocatable: no installed text file may name where things were built or
# first installed.  (The binaries' debug info may name the sources.)
hits=$(find "$nk_prefix" -type f ! -name '*.so*' ! -name '*.a' -print0 |
	xargs -0 grep -l -F -e "$nk_build" -e "$nk_src" -e "$stage" || true)
[[ -z $hits ]] || nk_fail "absolute build or staging paths in: $hits"

echo "install_tree: ${#expect[@]} files installed in $nk_prefix, SONAME $soname, no build paths"
