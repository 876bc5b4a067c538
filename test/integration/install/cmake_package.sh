#!/usr/bin/env bash
# install_cmake_package: configures and builds test/integration/install/consumer against
# the install with find_package(numakeg) and runs its two programs, one on
# numakeg::numakeg (must need libnumakeg.so.MAJOR) and one on
# numakeg::numakeg_static (must not).  Asking for another major.minor
# version must fail.
# shellcheck source=test/integration/install/common.sh
. "${0%/*}/common.sh"
nk_need readelf "$nk_cc"
dir=$(nk_scratch)

# find_package looks in PREFIX/lib/cmake and PREFIX/lib/<arch>/cmake, and in
# PREFIX/lib64/cmake only where the platform says so (not on Debian): with
# another CMAKE_INSTALL_LIBDIR a user names that directory too, as here.
prefix_path=$nk_prefix
[[ $nk_libdir == lib || $nk_libdir == lib/* ]] || prefix_path+=";$nk_prefix/$nk_libdir/cmake"
configure=(cmake -S "$nk_src/test/integration/install/consumer" -B "$dir/build"
	-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$nk_cc"
	-DCMAKE_PREFIX_PATH="$prefix_path"
	-DNK_CHECK_SOURCE="$nk_src/test/integration/install/version_check.c"
	-DNK_TEST_HARNESS="$nk_src/test/harness")
nk_run "$dir/configure.log" "${configure[@]}" -DNK_WANT_VERSION="$nk_version"
grep -q "numakeg static: yes" "$dir/configure.log" || nk_fail "no numakeg::numakeg_static"
grep -q "numakeg $nk_version from $nk_prefix/" "$dir/configure.log" ||
	nk_fail "find_package did not report numakeg $nk_version from $nk_prefix: $(grep numakeg "$dir/configure.log")"
nk_run "$dir/build.log" cmake --build "$dir/build"

for kind in shared static; do
	exe=$dir/build/check_$kind
	needed=$(readelf -d "$exe" | grep NEEDED || true)
	if [[ $kind == shared ]]; then
		[[ $needed == *"[libnumakeg.so.${nk_version%%.*}]"* ]] ||
			nk_fail "check_shared does not need libnumakeg.so.${nk_version%%.*}: $needed"
	else
		[[ $needed != *libnumakeg* ]] || nk_fail "check_static needs the shared library: $needed"
	fi
	# The shared one finds the library through the RPATH CMake gave it.
	"$exe" "$nk_version" || nk_fail "check_$kind failed"
done

# The package version file: 0.x versions match only their own minor.
major=${nk_version%%.*}
wrong="$((major + 1)).0"
if "${configure[@]}" -DNK_WANT_VERSION="$wrong" >"$dir/wrong.log" 2>&1; then
	nk_fail "find_package(numakeg $wrong) succeeded against $nk_version"
fi
grep -q "$nk_version" "$dir/wrong.log" || { cat "$dir/wrong.log" >&2; nk_fail "find_package($wrong) failed without naming $nk_version"; }
# Neither library needs hwloc's or libnuma's development files (numakeg
# loads hwloc with dlopen and makes the NUMA system calls itself): with
# their find modules disabled, as with only the .deb's run-time
# dependencies, the package still gives both, and both programs build and run.
no_numa=(-DCMAKE_DISABLE_FIND_PACKAGE_NUMA=ON -DCMAKE_DISABLE_FIND_PACKAGE_Hwloc=ON
	-DNK_WANT_VERSION="$nk_version" -B "$dir/no-numa")
nk_run "$dir/no-numa.log" "${configure[@]}" "${no_numa[@]}" -DNK_COMPONENTS=static
grep -q "numakeg static: yes" "$dir/no-numa.log" ||
	nk_fail "no numakeg::numakeg_static without hwloc's and libnuma's -dev files: $(grep numakeg "$dir/no-numa.log")"
nk_run "$dir/no-numa-build.log" cmake --build "$dir/no-numa"
for kind in shared static; do
	"$dir/no-numa/check_$kind" "$nk_version" || nk_fail "check_$kind (no hwloc or libnuma -dev) failed"
done

echo "install_cmake_package: numakeg::numakeg and numakeg::numakeg_static built and ran; $wrong refused; both without hwloc's and libnuma's -dev files"
