# Tests of thirdparty_adapters/dns (interposed getaddrinfo & co. over c-ares). Included from
# tests/adapters/CMakeLists.txt. One binary, one CTest per *_test.cpp:
#   local_test          no network: numeric hosts, NULL host, services, /etc/hosts names,
#                       argument errors, calls outside coroutines -- each compared with glibc
#   resolve_test        DNS through a test responder (COFCGI_DNS_SERVERS/COFCGI_RESOLV_CONF):
#                       answers, CNAMEs, search list, errors and h_errno, dead and silent
#                       servers, per-coroutine gethostbyname storage, getnameinfo, reload
#   concurrency_test    the proof: 80 lookups against a responder answering after 300 ms
#   glibc_oracle_test   glibc itself and this resolver, side by side, in a private mount and
#                       network namespace whose /etc/resolv.conf, /etc/hosts and
#                       /etc/nsswitch.conf point at a responder on 127.0.0.1:53
#                       (dns_glibc_oracle; skipped where unshare is not permitted)
# The test binary moves itself into a network namespace of its own when it can, so that no
# query can leave the machine even through a bug; where it cannot, every test is still
# pointed at its own responder on loopback.
set(_cofcgi_dns_tests ${CMAKE_CURRENT_LIST_DIR})

add_library(cofcgi_test_dns_support STATIC
  ${_cofcgi_dns_tests}/dns_responder.cpp
  ${_cofcgi_dns_tests}/dns_test_util.cpp)
target_include_directories(cofcgi_test_dns_support PUBLIC ${_cofcgi_dns_tests})
target_link_libraries(cofcgi_test_dns_support PUBLIC cofcgi_runtime ${CMAKE_DL_LIBS})

add_executable(dns_glibc_oracle ${_cofcgi_dns_tests}/glibc_oracle_main.cpp)
target_link_libraries(dns_glibc_oracle PRIVATE
  cofcgi_test_dns_support cofcgi_adapters cofcgi_hooks cofcgi_runtime)

cofcgi_add_test_binary(dns_tests
  SOURCES
    ${_cofcgi_dns_tests}/local_test.cpp
    ${_cofcgi_dns_tests}/resolve_test.cpp
    ${_cofcgi_dns_tests}/concurrency_test.cpp
    ${_cofcgi_dns_tests}/glibc_oracle_test.cpp
    ${_cofcgi_dns_tests}/cancel_test.cpp
  LIBS cofcgi_test_dns_support cofcgi_adapters cofcgi_hooks cofcgi_runtime
  TIMEOUT 120)
target_compile_definitions(dns_tests PRIVATE
  COFCGI_DNS_ORACLE="$<TARGET_FILE:dns_glibc_oracle>")
add_dependencies(dns_tests dns_glibc_oracle)
unset(_cofcgi_dns_tests)
