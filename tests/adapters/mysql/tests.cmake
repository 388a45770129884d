# MariaDB adapter tests (included from tests/adapters/CMakeLists.txt). One binary; one CTest
# per *_test.cpp, each a process with its own private mariadbd (tests/support/
# mariadb_server.h: bootstrapped in a temp dir, started on a unix socket and a loopback
# port, killed when the process ends). Needs Debian's mariadb-server and libmariadb-dev
# (scripts/lib/apt-packages.txt).

# The fixture is a library of its own: the FastCGI layer's tests and the benchmarks use it
# too. It needs only libmariadb (found by thirdparty_adapters/mysql/adapter.cmake).
if(NOT TARGET cofcgi_test_mariadb_server)
  add_library(cofcgi_test_mariadb_server STATIC ${PROJECT_SOURCE_DIR}/tests/support/mariadb_server.cpp)
  target_include_directories(cofcgi_test_mariadb_server
    PUBLIC ${PROJECT_SOURCE_DIR}/tests/support ${COFCGI_MARIADB_INCLUDE_DIR})
  target_link_libraries(cofcgi_test_mariadb_server PUBLIC cofcgi_test_fixture_util)
  target_link_libraries(cofcgi_test_mariadb_server PUBLIC ${COFCGI_MARIADB_LIBRARY})
endif()

file(GLOB mysql_adapter_test_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_test.cpp)
# 120 s: each process bootstraps (~1.5 s) and starts (~0.2 s) its server; the fault test
# kills and restarts it; all of it under ASan in the sanitizer pass.
cofcgi_add_test_binary(mysql_adapter_tests
  SOURCES ${mysql_adapter_test_sources}
  LIBS cofcgi_adapters cofcgi_test_mariadb_server
  TIMEOUT 120)
target_include_directories(mysql_adapter_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR})
# tls_test: MariaDB over TLS, with the TLS tests' certificate maker.
if(NOT TARGET OpenSSL::SSL)
  find_package(OpenSSL 3.0 REQUIRED COMPONENTS SSL Crypto)
endif()
target_include_directories(mysql_adapter_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../tls)
target_link_libraries(mysql_adapter_tests PRIVATE OpenSSL::SSL OpenSSL::Crypto)
# reset_when_changed_test checks the statement classifier of the pool directly: it is not
# exported, so the test compiles its own copy.
target_sources(mysql_adapter_tests PRIVATE
  ${PROJECT_SOURCE_DIR}/thirdparty_adapters/mysql/src/session_effects.cpp)
target_include_directories(mysql_adapter_tests PRIVATE
  ${PROJECT_SOURCE_DIR}/thirdparty_adapters/mysql/src)
# lease_syscalls_test: the kernel calls of one pooled lease, counted by strace around
# lease_syscalls_probe (issue 15). Skipped when strace cannot trace here (no ptrace).
add_executable(mysql_lease_syscalls_probe ${CMAKE_CURRENT_LIST_DIR}/lease_syscalls_probe.cpp)
target_link_libraries(mysql_lease_syscalls_probe PRIVATE cofcgi_adapters cofcgi_test_mariadb_server)
find_program(COFCGI_STRACE strace)
if(COFCGI_STRACE)
  add_test(NAME mysql.lease_syscalls
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/lease_syscalls_test.sh ${COFCGI_STRACE}
                   $<TARGET_FILE:mysql_lease_syscalls_probe>)
  set_tests_properties(mysql.lease_syscalls PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
endif()
