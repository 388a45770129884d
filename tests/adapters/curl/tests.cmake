# libcurl proof (included from tests/adapters/CMakeLists.txt): ordinary curl_easy_perform
# code run as coroutines against local servers written in the test. One binary; one CTest per
# *_test.cpp. libcurl needs no adapter: its sockets, poll() and wake-up socketpair are hooked.
# Debian: libcurl4-openssl-dev (scripts/lib/apt-packages.txt). Shares tls_test_util.h (the
# self-signed certificate, the server thread) with tests/adapters/tls. resolver_test defines
# getaddrinfo in the executable (a slow lookup for one made-up name, every other name
# forwarded with dlsym(RTLD_NEXT)); it applies to the whole binary, harmlessly.
find_package(CURL REQUIRED)
if(NOT TARGET OpenSSL::SSL)
  find_package(OpenSSL 3.0 REQUIRED COMPONENTS SSL Crypto)
endif()
file(GLOB curl_adapter_test_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_test.cpp)
cofcgi_add_test_binary(curl_adapter_tests
  SOURCES ${curl_adapter_test_sources}
  LIBS cofcgi_adapters CURL::libcurl OpenSSL::SSL OpenSSL::Crypto ${CMAKE_DL_LIBS}
  TIMEOUT 60)
target_include_directories(curl_adapter_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${CMAKE_CURRENT_LIST_DIR}/../tls)
