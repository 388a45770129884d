# OpenSSL adapter tests (included from tests/adapters/CMakeLists.txt). One binary; one CTest
# per *_test.cpp. Certificates are made at test time (tls_test_util.h: EC P-256, self-signed,
# in memory and in a temp dir); server_test also runs the real `openssl s_client`, and
# verify_name_test `openssl s_server` (Debian:
# openssl; libssl-dev to build; scripts/lib/apt-packages.txt).
find_program(COFCGI_OPENSSL_PROGRAM openssl)
if(NOT COFCGI_OPENSSL_PROGRAM)
  message(WARNING "tests/adapters/tls: the openssl command is missing (Debian: openssl); "
                  "server_test will fail")
endif()
if(NOT TARGET OpenSSL::SSL)
  find_package(OpenSSL 3.0 REQUIRED COMPONENTS SSL Crypto)
endif()
file(GLOB tls_adapter_test_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_test.cpp)
cofcgi_add_test_binary(tls_adapter_tests
  SOURCES ${tls_adapter_test_sources}
  LIBS cofcgi_adapters OpenSSL::SSL OpenSSL::Crypto cofcgi_test_fixture_util
  TIMEOUT 60)
target_include_directories(tls_adapter_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_compile_definitions(tls_adapter_tests PRIVATE COFCGI_OPENSSL_PROGRAM="${COFCGI_OPENSSL_PROGRAM}")
