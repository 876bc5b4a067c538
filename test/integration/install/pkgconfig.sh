#!/usr/bin/env bash
# install_pkgconfig: builds version_check.c against the install with
# `pkg-config --cflags --libs numakeg` and runs it: nk_version(), zone items
# and malloc through the installed libnumakeg.so.MAJOR; then again against
# libnumakeg.a with `pkg-config --static`.
# shellcheck source=test/integration/install/common.sh
. "${0%/*}/common.sh"
nk_need pkg-config readelf "$nk_cc"
dir=$(nk_scratch)

export PKG_CONFIG_PATH=$nk_prefix/$nk_libdir/pkgconfig
unset PKG_CONFIG_LIBDIR
got=$(pkg-config --modversion numakeg) || nk_fail "pkg-config does not find numakeg in $PKG_CONFIG_PATH"
[[ $got == "$nk_version" ]] || nk_fail "pkg-config --modversion numakeg is '$got', want $nk_version"

read -r -a cflags < <(pkg-config --cflags numakeg)
read -r -a libs < <(pkg-config --libs numakeg)
nk_run "$dir/cc.log" "$nk_cc" "${cflags[@]}" -I"$nk_src/test/harness" \
	"${nk_src}/test/integration/install/version_check.c" "${libs[@]}" \
	-o "$dir/version_check"

needed=$(readelf -d "$dir/version_check" | grep NEEDED || true)
[[ $needed == *"[libnumakeg.so.${nk_version%%.*}]"* ]] ||
	nk_fail "the program does not need libnumakeg.so.${nk_version%%.*}: $needed"

LD_LIBRARY_PATH=$nk_prefix/$nk_libdir "$dir/version_check" "$nk_version" ||
	nk_fail "version_check built with pkg-config failed"
# Static: libnumakeg.a through `pkg-config --static` (Libs.private: what the
# archive needs besides itself); the program must not need the shared one.
read -r -a static_libs < <(pkg-config --static --libs-only-L --libs-only-l numakeg)
read -r -a static_other < <(pkg-config --static --libs-only-other numakeg)
nk_run "$dir/cc-static.log" "$nk_cc" "${cflags[@]}" -I"$nk_src/test/harness" \
	"${nk_src}/test/integration/install/version_check.c" \
	-Wl,-Bstatic "${static_libs[@]}" -Wl,-Bdynamic "${static_other[@]}" \
	-o "$dir/version_check_static"
needed=$(readelf -d "$dir/version_check_static" | grep NEEDED || true)
[[ $needed != *libnumakeg* ]] || nk_fail "the static build needs the shared library: $needed"
"$dir/version_check_static" "$nk_version" || nk_fail "version_check built with pkg-config --static failed"
echo "install_pkgconfig: built with: ${cflags[*]} ${libs[*]}; static: ${static_libs[*]} ${static_other[*]}"
