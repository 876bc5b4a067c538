#!/usr/bin/env bash
# install_deb: `cpack -G DEB` from the build tree; the package lists the
# expected files under /usr, depends on libhwloc15 (dlopen'd) and not on
# libnuma1 (no longer used), carries
# the project's version and an shlibs file, and its launcher, unpacked,
# finds its library.
# shellcheck source=test/integration/install/common.sh
. "${0%/*}/common.sh"
nk_need cpack dpkg-deb
dir=$(nk_scratch)

nk_run "$dir/cpack.log" cpack -G DEB --config "$nk_build/CPackConfig.cmake" -B "$dir"
debs=("$dir"/numakeg_"$nk_version"_*.deb)
[[ -f ${debs[0]} ]] || { cat "$dir/cpack.log" >&2; nk_fail "no numakeg_${nk_version}_*.deb in $dir"; }
deb=${debs[0]}

dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$dir/contents"
so=libnumakeg.so.${nk_version%%.*}
l=/usr/$nk_libdir
expect=(
	"$l/libnumakeg.so.$nk_version" "$l/$so" "$l/libnumakeg.so" "$l/libnumakeg.a"
	/usr/include/numakeg.h "$l/pkgconfig/numakeg.pc"
	"$l/cmake/numakeg/numakegConfig.cmake" "$l/cmake/numakeg/numakegConfigVersion.cmake"
	"$l/cmake/numakeg/numakegTargets.cmake" "$l/cmake/numakeg/numakegStaticTargets.cmake"
	/usr/bin/numakeg /usr/share/man/man1/numakeg.1 /usr/share/man/man3/numakeg.3
)
[[ -e $nk_src/tools/numakeg-stat ]] && expect+=(/usr/bin/numakeg-stat)
for f in "${expect[@]}"; do
	grep -qxF -- "$f" "$dir/contents" || nk_fail "$f is not in the package: $(tr '\n' ' ' <"$dir/contents")"
done

field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == numakeg ]] || nk_fail "Package: $(field Package)"
[[ $(field Version) == "$nk_version" ]] || nk_fail "Version: $(field Version), want $nk_version"
depends=$(field Depends)
[[ ", $depends," == *", libhwloc15"[\ ,]* ]] || nk_fail "Depends: '$depends' lacks libhwloc15"
[[ $depends != *libnuma* ]] || nk_fail "Depends: '$depends' names libnuma, which numakeg no longer uses"
# The shlibs file names the SONAME, so packages linking it get a dependency.
dpkg-deb --ctrl-tarfile "$deb" >"$dir/control.tar"
tar -xOf "$dir/control.tar" ./shlibs >"$dir/shlibs" 2>/dev/null ||
	nk_fail "the package has no shlibs control file"
grep -q "^libnumakeg ${nk_version%%.*} numakeg" "$dir/shlibs" || nk_fail "shlibs: $(cat "$dir/shlibs")"

# Unpacked anywhere, the launcher finds the packaged library beside it.
dpkg-deb -x "$deb" "$dir/root"
out=$("$dir/root/usr/bin/numakeg" --version) || nk_fail "the packaged launcher failed"
[[ $out == "numakeg $nk_version ($dir/root/usr/$nk_libdir/$so)" ]] || nk_fail "the packaged launcher says: $out"
echo "install_deb: ${deb##*/}: ${#expect[@]} files, Depends: $depends"
