#!/usr/bin/env bash
# install_deb: `cpack -G DEB` from the build tree; the package lists the
# expected files under /usr, depends on libhwloc15 (dlopen'd) and not on
# libnuma1 (no longer used), on libc6 at least as new as the newest GLIBC_
# symbol version libnumakeg.so uses and on the package of every other
# library it links (libubsan1 in a UBSan build); carries the project's
# version and an shlibs file, and its launcher, unpacked, finds its library.
# shellcheck source=test/integration/install/common.sh
. "${0%/*}/common.sh"
# dpkg-shlibdeps (dpkg-dev) computes the Depends of what the library links.
nk_need cpack dpkg-deb dpkg-shlibdeps dpkg-query readelf
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
# libc6 (>= V), V at least the newest GLIBC_ version the library's symbols
# need: without it the package installs where the library cannot load.
real_so=$nk_build/lib/libnumakeg.so.$nk_version
[[ -f $real_so ]] || nk_fail "no $real_so in the build tree"
need_glibc=$(readelf -V "$real_so" | grep -oE 'Name: GLIBC_[0-9.]+' | sed 's/.*GLIBC_//' | sort -V | tail -n 1)
[[ -n $need_glibc ]] || nk_fail "readelf -V shows no GLIBC_ version in $real_so"
[[ ", $depends," =~ ,\ libc6\ \(\>=\ ([0-9.]+)[^\)]*\), ]] ||
	nk_fail "Depends: '$depends' has no 'libc6 (>= VERSION)' (the library needs GLIBC_$need_glibc)"
have_glibc=${BASH_REMATCH[1]}
[[ $(printf '%s\n%s\n' "$need_glibc" "$have_glibc" | sort -V | head -n 1) == "$need_glibc" ]] ||
	nk_fail "Depends: libc6 (>= $have_glibc), but the library uses GLIBC_$need_glibc"
# Every other library it links comes from a package that Depends names.
while read -r needed; do
	case $needed in libc.so.* | ld-linux*) continue ;; esac
	owners=$(dpkg-query -S "*/$needed" 2>/dev/null | sed 's/[:,].*//' | sort -u) || true
	[[ -n $owners ]] || nk_fail "no installed package holds $needed, which libnumakeg.so links"
	found=no
	for pkg in $owners; do
		[[ ", $depends," == *", $pkg"[\ ,]* ]] && found=yes
	done
	[[ $found == yes ]] || nk_fail "libnumakeg.so links $needed (package $owners), which Depends: '$depends' lacks"
done < <(readelf -d "$real_so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
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
