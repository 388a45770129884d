# mysql/: the coroutine-aware MariaDB connection pool (co::mysql::Pool) and query helpers
# over libmariadb (Debian: libmariadb-dev). libmariadb itself needs nothing from us to run in
# coroutines: its socket calls (connect, poll, recv, send) are hooked. Included from
# thirdparty_adapters/CMakeLists.txt.
#
# libmariadb is found with pkg-config when it is there, else with find_library/find_path.
# Linked PUBLIC (users of the pool call mysql_* on the MYSQL* it lends). The exported
# interface names the plain library and include dir, not an imported target, so the
# installed cofcgiConfig.cmake needs no find_dependency for it.
set(_cofcgi_mysql_dir ${CMAKE_CURRENT_LIST_DIR})

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(COFCGI_LIBMARIADB QUIET libmariadb)
endif()
find_library(COFCGI_MARIADB_LIBRARY NAMES mariadb
  HINTS ${COFCGI_LIBMARIADB_LIBRARY_DIRS} PATH_SUFFIXES mariadb)
find_path(COFCGI_MARIADB_INCLUDE_DIR NAMES mysql.h
  HINTS ${COFCGI_LIBMARIADB_INCLUDE_DIRS} PATH_SUFFIXES mariadb)
if(NOT COFCGI_MARIADB_LIBRARY OR NOT COFCGI_MARIADB_INCLUDE_DIR)
  message(FATAL_ERROR "libmariadb not found (Debian: apt-get install libmariadb-dev; "
    "scripts/lib/apt-packages.txt lists it)")
endif()
message(STATUS "cofcgi adapters/mysql: libmariadb ${COFCGI_LIBMARIADB_VERSION} ${COFCGI_MARIADB_LIBRARY}")

target_sources(cofcgi_adapters PRIVATE
  ${_cofcgi_mysql_dir}/src/backoff.cpp
  ${_cofcgi_mysql_dir}/src/connect.cpp
  ${_cofcgi_mysql_dir}/src/mysql.cpp
  ${_cofcgi_mysql_dir}/src/pool.cpp
  ${_cofcgi_mysql_dir}/src/pool_shared.cpp
  ${_cofcgi_mysql_dir}/src/result.cpp
  ${_cofcgi_mysql_dir}/src/session_effects.cpp
  ${_cofcgi_mysql_dir}/src/statement.cpp
  ${_cofcgi_mysql_dir}/src/thread_pool.cpp)
target_include_directories(cofcgi_adapters PUBLIC
  $<BUILD_INTERFACE:${COFCGI_MARIADB_INCLUDE_DIR}> $<INSTALL_INTERFACE:${COFCGI_MARIADB_INCLUDE_DIR}>)
target_link_libraries(cofcgi_adapters PUBLIC
  $<BUILD_INTERFACE:${COFCGI_MARIADB_LIBRARY}> $<INSTALL_INTERFACE:mariadb>)
unset(_cofcgi_mysql_dir)
