# dns/: getaddrinfo, gethostbyname*, getnameinfo interposed so that lookups made in
# coroutines go through c-ares on the thread's netpoller (see dns/README.md). Included from
# thirdparty_adapters/CMakeLists.txt.
#
# c-ares (Debian: libc-ares-dev) is found with pkg-config and linked PRIVATE: nothing of it
# shows in the public headers, so the installed package needs no find_dependency for it.
set(_cofcgi_dns_dir ${CMAKE_CURRENT_LIST_DIR})

find_package(PkgConfig REQUIRED)
pkg_check_modules(COFCGI_LIBCARES REQUIRED libcares)
message(STATUS "cofcgi adapters/dns: c-ares ${COFCGI_LIBCARES_VERSION}")

target_sources(cofcgi_adapters PRIVATE
  ${_cofcgi_dns_dir}/src/cares_lookup.cpp
  ${_cofcgi_dns_dir}/src/helper_thread.cpp
  ${_cofcgi_dns_dir}/src/netdb_hooks.cpp
  ${_cofcgi_dns_dir}/src/real_netdb.cpp
  ${_cofcgi_dns_dir}/src/system_config.cpp)
find_package(Threads REQUIRED)
target_include_directories(cofcgi_adapters PRIVATE ${COFCGI_LIBCARES_INCLUDE_DIRS})
target_link_libraries(cofcgi_adapters PRIVATE ${COFCGI_LIBCARES_LINK_LIBRARIES} ${CMAKE_DL_LIBS}
  Threads::Threads)
unset(_cofcgi_dns_dir)
