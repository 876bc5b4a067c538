# `cpack -G DEB` (from the build directory) builds numakeg_VERSION_ARCH.deb
# from the install rules: libraries, header, pkg-config and CMake files,
# launcher, tools and man pages, under /usr.
set(CPACK_PACKAGE_NAME numakeg)
set(CPACK_PACKAGE_VENDOR "numakeg")
# Debian wants an address in Maintainer; a packager sets theirs (.invalid
# is the TLD reserved for names that must not resolve).
set(NUMAKEG_PACKAGE_CONTACT "numakeg maintainers <numakeg@example.invalid>"
  CACHE STRING "The Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${NUMAKEG_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "NUMA-aware slab allocator and malloc replacement (FreeBSD's UMA in user space)")
set(CPACK_PACKAGE_DESCRIPTION
  "numakeg is FreeBSD's UMA slab allocator brought to user space for NUMA machines: a zone API and a malloc family that hands out memory per NUMA domain. Loaded with LD_PRELOAD (the numakeg launcher does it) it is the malloc of any dynamically linked program.")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
# Depends: what libnumakeg.so links, computed by dpkg-shlibdeps (dpkg-dev)
# from its ELF file: the C library with the least version whose symbols it
# uses (GLIBC_2.35: rseq), and UBSan's run-time library in a UBSan build
# (tools/test.sh's).  Then hwloc by name: numakeg loads it with dlopen, on
# machines of more than one node only, so no tool sees it; without it such a
# machine runs as one domain (a line on stderr says why).  libnuma is not
# used at all: the NUMA system calls are made raw (lib/sys.c).
find_program(NUMAKEG_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(NUMAKEG_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libhwloc15")
else()
  message(STATUS "numakeg: no dpkg-shlibdeps (Debian: dpkg-dev): the .deb's "
    "Depends names libc6 without the least version it needs")
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6, libhwloc15")
  if(NUMAKEG_UBSAN)
    string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libubsan1")
  endif()
endif()
# tools/numakeg-stat, once in the tree, is a Python 3 program.
if(EXISTS ${PROJECT_SOURCE_DIR}/tools/numakeg-stat)
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3")
endif()
# shlibs file and the ldconfig trigger for libnumakeg.so.MAJOR.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
include(CPack)
