# What `cmake --install` puts under the prefix besides the libraries and the
# header (lib/CMakeLists.txt): the pkg-config file, the CMake package, the
# launcher, the stats tool and the man pages.  Every installed text file
# names paths relative to itself, so the prefix can move.
include(CMakePackageConfigHelpers)

# Empty (the default): LIBDIR/cmake/numakeg, following CMAKE_INSTALL_LIBDIR
# when it is changed later (a cached default would keep the first LIBDIR).
set(NUMAKEG_INSTALL_CMAKEDIR "" CACHE STRING
  "Where the CMake package goes, relative to the prefix (empty: LIBDIR/cmake/numakeg)")
if(NUMAKEG_INSTALL_CMAKEDIR)
  set(NK_CMAKE_DIR ${NUMAKEG_INSTALL_CMAKEDIR})
else()
  set(NK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/numakeg)
endif()

# Path of `to` relative to `from`, both relative to the prefix (or absolute,
# when the user made an install directory absolute: then that path is kept).
function(nk_relative_path out from to)
  if(IS_ABSOLUTE "${to}")
    set(${out} "${to}" PARENT_SCOPE)
    return()
  endif()
  if(IS_ABSOLUTE "${from}")
    message(FATAL_ERROR "numakeg: ${from} must be relative to the install prefix")
  endif()
  # A stand-in root: only the relation between the two paths matters.
  file(RELATIVE_PATH rel "/nk-prefix/${from}" "/nk-prefix/${to}")
  string(REGEX REPLACE "/$" "" rel "${rel}")
  if(rel STREQUAL "")
    set(rel ".")
  endif()
  set(${out} "${rel}" PARENT_SCOPE)
endfunction()

# ---- pkg-config --------------------------------------------------------------
set(NK_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
nk_relative_path(NK_PC_PREFIX_FROM_PCDIR "${NK_PC_DIR}" "")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(NK_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(NK_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(NK_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(NK_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# For `pkg-config --static`: what libnumakeg.a needs besides itself (not
# hwloc, which it loads with dlopen, nor libnuma: see lib/CMakeLists.txt).
# NUMAKEG_DLOPEN_IN_LIBC: cached by lib/CMakeLists.txt (glibc 2.34 on).
set(NK_PC_LIBS_PRIVATE "-pthread")
if(NOT NUMAKEG_DLOPEN_IN_LIBC)
  foreach(_nk_lib ${CMAKE_DL_LIBS})
    string(APPEND NK_PC_LIBS_PRIVATE " -l${_nk_lib}")
  endforeach()
endif()
if(NUMAKEG_UBSAN)
  string(APPEND NK_PC_LIBS_PRIVATE " -fsanitize=undefined")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/numakeg.pc.in
  ${PROJECT_BINARY_DIR}/install/numakeg.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/install/numakeg.pc DESTINATION ${NK_PC_DIR})

# ---- CMake package -----------------------------------------------------------
install(EXPORT numakegTargets NAMESPACE numakeg::
  DESTINATION ${NK_CMAKE_DIR})
install(EXPORT numakegStaticTargets NAMESPACE numakeg::
  DESTINATION ${NK_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/numakegConfig.cmake.in
  ${PROJECT_BINARY_DIR}/install/numakegConfig.cmake
  INSTALL_DESTINATION ${NK_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/install/numakegConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/install/numakegConfig.cmake
  ${PROJECT_BINARY_DIR}/install/numakegConfigVersion.cmake
  DESTINATION ${NK_CMAKE_DIR})

# ---- The launcher --------------------------------------------------------------
# tools/numakeg finds the library relative to itself.  As written it fits the
# source tree (tools/ beside build/) and the build tree's copy (build/bin/,
# beside build/lib/); the installed copy is told where the install's libdir
# lies relative to its bindir, by rewriting one marked line.
set(NK_LAUNCHER ${PROJECT_SOURCE_DIR}/tools/numakeg)
configure_file(${NK_LAUNCHER} ${PROJECT_BINARY_DIR}/bin/numakeg COPYONLY)
file(READ ${NK_LAUNCHER} _nk_launcher)
set(_nk_libdirs_line "nk_lib_dirs=(../lib ../build/lib) # NK_LIB_DIRS")
string(FIND "${_nk_launcher}" "${_nk_libdirs_line}" _nk_at)
if(_nk_at EQUAL -1)
  message(FATAL_ERROR "numakeg: tools/numakeg lacks the line '${_nk_libdirs_line}' "
    "that the install rule rewrites")
endif()
nk_relative_path(_nk_lib_from_bin "${CMAKE_INSTALL_BINDIR}" "${CMAKE_INSTALL_LIBDIR}")
string(REPLACE "${_nk_libdirs_line}"
  "nk_lib_dirs=('${_nk_lib_from_bin}') # NK_LIB_DIRS (installed)"
  _nk_launcher "${_nk_launcher}")
# Written only when it changed, so an unchanged launcher is not reinstalled.
set(_nk_launcher_out ${PROJECT_BINARY_DIR}/install/numakeg)
set(_nk_launcher_old "")
if(EXISTS ${_nk_launcher_out})
  file(READ ${_nk_launcher_out} _nk_launcher_old)
endif()
if(NOT _nk_launcher_old STREQUAL _nk_launcher)
  file(WRITE ${_nk_launcher_out} "${_nk_launcher}")
endif()
install(PROGRAMS ${_nk_launcher_out} DESTINATION ${CMAKE_INSTALL_BINDIR})

# The stats tool, once it is in the tree.  tools/ is a configure dependency
# so that its arrival (a file added to the directory) re-runs this check.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tools)
if(EXISTS ${PROJECT_SOURCE_DIR}/tools/numakeg-stat)
  install(PROGRAMS ${PROJECT_SOURCE_DIR}/tools/numakeg-stat DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# ---- Man pages -----------------------------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/doc/man/numakeg.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/doc/man/numakeg.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)
