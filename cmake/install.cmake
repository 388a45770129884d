# Install layout (DESIGN.md contract): headers, libraries, the CMake package
# (find_package(cofcgi CONFIG) -> cofcgi::runtime, ::hooks, ::cgi, ::adapters, ::cofcgi) and
# lib/pkgconfig/cofcgi.pc.
include(CMakePackageConfigHelpers)

install(TARGETS cofcgi_runtime cofcgi_hooks cofcgi_cgi cofcgi_adapters cofcgi
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

# cofcgi.pc finds its prefix from its own location (pkg-config's ${pcfiledir}), so the .pc
# that `cmake --install build --prefix P` puts in P works for any P, and under DESTDIR.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(COFCGI_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  string(REGEX REPLACE "[^/]+" ".." COFCGI_PC_UP "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  set(COFCGI_PC_PREFIX "\${pcfiledir}/${COFCGI_PC_UP}")
endif()
cmake_path(ABSOLUTE_PATH CMAKE_INSTALL_LIBDIR BASE_DIRECTORY "\${prefix}" OUTPUT_VARIABLE COFCGI_PC_LIBDIR)
cmake_path(ABSOLUTE_PATH CMAKE_INSTALL_INCLUDEDIR BASE_DIRECTORY "\${prefix}"
  OUTPUT_VARIABLE COFCGI_PC_INCLUDEDIR)
configure_file(cmake/cofcgi.pc.in ${CMAKE_CURRENT_BINARY_DIR}/cofcgi.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/cofcgi.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
