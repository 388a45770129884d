# tls/: thin OpenSSL 3 helpers (co::tls: RAII SSL_CTX/SSL handles, context setup, a TLS
# stream over a blocking socket that keeps OpenSSL's per-thread error queue clean between
# coroutines). OpenSSL itself needs nothing from us to run in coroutines: its socket BIO's
# read()/write() are hooked. Included from thirdparty_adapters/CMakeLists.txt.
# Debian: libssl-dev (scripts/lib/apt-packages.txt).
#
# Linked PUBLIC (users of co::tls call SSL_* on the handles it gives). The exported interface
# names the plain libraries, not OpenSSL's imported targets, so the installed
# cofcgiConfig.cmake needs no find_dependency(OpenSSL).
# GLOBAL: the tests (another directory) link OpenSSL::SSL too.
find_package(OpenSSL 3.0 REQUIRED COMPONENTS SSL Crypto GLOBAL)
message(STATUS "cofcgi adapters/tls: OpenSSL ${OPENSSL_VERSION} ${OPENSSL_SSL_LIBRARY}")

target_sources(cofcgi_adapters PRIVATE ${CMAKE_CURRENT_LIST_DIR}/src/tls.cpp)
target_link_libraries(cofcgi_adapters PUBLIC
  $<BUILD_INTERFACE:OpenSSL::SSL> $<BUILD_INTERFACE:OpenSSL::Crypto>
  $<INSTALL_INTERFACE:ssl> $<INSTALL_INTERFACE:crypto>)
