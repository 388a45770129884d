// glibc's own resolver functions, behind the ones this library exports: looked up with
// dlsym(RTLD_NEXT) when the library loads. A missing public one aborts loudly; glibc's files
// source is GLIBC_PRIVATE, so a glibc without it leaves that entry null (README, "Who answers").
#pragma once

#include <netdb.h>
#include <nss.h>
#include <resolv.h>

// glibc's "files" hosts source as nsswitch calls it (the NSS module interface, in libc.so.6
// itself since glibc 2.34): /etc/hosts read exactly as glibc's own lookups read it.
extern "C" nss_status _nss_files_gethostbyname2_r(const char*, int, hostent*, char*, size_t, int*,
                                                  int*);
extern "C" nss_status _nss_files_gethostbyaddr_r(const void*, socklen_t, int, hostent*, char*,
                                                 size_t, int*, int*);

namespace co::dns {

// clang-format off
#define COFCGI_DNS_REAL_FUNCTIONS(X)                                                 \
  X(getaddrinfo) X(freeaddrinfo) X(gethostbyname) X(gethostbyname2) X(gethostbyname_r) \
  X(gethostbyname2_r) X(gethostbyaddr) X(gethostbyaddr_r) X(getnameinfo) X(res_query) \
  X(res_search)
#define COFCGI_DNS_OPTIONAL_FUNCTIONS(X) X(_nss_files_gethostbyname2_r) X(_nss_files_gethostbyaddr_r)
// clang-format on

struct RealFunctions {
#define COFCGI_DNS_REAL_MEMBER(name) decltype(&::name) name;
  COFCGI_DNS_REAL_FUNCTIONS(COFCGI_DNS_REAL_MEMBER)
  COFCGI_DNS_OPTIONAL_FUNCTIONS(COFCGI_DNS_REAL_MEMBER)  // null when glibc has none
#undef COFCGI_DNS_REAL_MEMBER
};

const RealFunctions& R();

}  // namespace co::dns
