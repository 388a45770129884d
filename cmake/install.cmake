# Install layout (DESIGN.md contract): headers, libraries, the CMake package
# (find_package(cofcgi CONFIG) -> cofcgi::runtime, ::hooks, ::cgi, ::adapters, ::cofcgi) and
# lib/pkgconfig/cofcgi.pc (runtime and hooks), cofcgi-cgi.pc and cofcgi-adapters.pc.
include(CMakePackageConfigHelpers)

set(COFCGI_INSTALLED_LIBRARIES cofcgi_runtime cofcgi_hooks cofcgi_cgi cofcgi_adapters)
# An installed library finds the others next to itself, wherever the prefix is. The
# executable's own RUNPATH does not help: ld.so searches a library's dependencies with that
# library's DT_RUNPATH only (ld.so(8)), and with --as-needed (gcc's default on Debian and
# Ubuntu) a program that calls only libcofcgi_cgi, or only co_closure.h's header-only macros,
# has no DT_NEEDED on libcofcgi_runtime at all: it is loaded as a dependency of cgi/hooks.
set_target_properties(${COFCGI_INSTALLED_LIBRARIES} PROPERTIES INSTALL_RPATH "$ORIGIN")

install(TARGETS ${COFCGI_INSTALLED_LIBRARIES} cofcgi
  EXPORT cofcgiTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY runtime/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(COFCGI_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cofcgi)
install(EXPORT cofcgiTargets NAMESPACE cofcgi:: DESTINATION ${COFCGI_CMAKE_DIR})
configure_package_config_file(cmake/cofcgiConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/cofcgiConfig.cmake INSTALL_DESTINATION ${COFCGI_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/cofcgiConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/cofcgiConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/cofcgiConfigVersion.cmake DESTINATION ${COFCGI_CMAKE_DIR})

# The .pc files find the prefix from their own location (pkg-config's ${pcfiledir}), so those
# that `cmake --install build --prefix P` puts in P work for any P, and under DESTDIR.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(COFCGI_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  string(REGEX REPLACE "[^/]+" ".." COFCGI_PC_UP "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  set(COFCGI_PC_PREFIX "\${pcfiledir}/${COFCGI_PC_UP}")
endif()
cmake_path(ABSOLUTE_PATH CMAKE_INSTALL_LIBDIR BASE_DIRECTORY "\${prefix}" OUTPUT_VARIABLE COFCGI_PC_LIBDIR)
cmake_path(ABSOLUTE_PATH CMAKE_INSTALL_INCLUDEDIR BASE_DIRECTORY "\${prefix}"
  OUTPUT_VARIABLE COFCGI_PC_INCLUDEDIR)
# One .pc per use, mirroring the CMake targets: cofcgi (libco programs: runtime and hooks),
# cofcgi-cgi (cofcgi::cgi: FastCGI on the runtime), cofcgi-adapters (cofcgi::adapters, which
# Requires cofcgi). A FastCGI app that calls MariaDB: `pkg-config cofcgi-cgi cofcgi-adapters`.
foreach(pc cofcgi cofcgi-cgi cofcgi-adapters)
  configure_file(cmake/${pc}.pc.in ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
