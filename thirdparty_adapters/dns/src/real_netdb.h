// glibc's own resolver functions, behind the ones this library exports: looked up with
// dlsym(RTLD_NEXT) when the library loads (and on first use, for calls made from other
// libraries' constructors). A missing one aborts loudly.
#pragma once

#include <netdb.h>
#include <resolv.h>

namespace co::dns::real {

// clang-format off
#define COFCGI_DNS_REAL_FUNCTIONS(X)                                                 \
  X(getaddrinfo) X(freeaddrinfo) X(gethostbyname) X(gethostbyname2) X(gethostbyname_r) \
  X(gethostbyname2_r) X(gethostbyaddr) X(gethostbyaddr_r) X(getnameinfo) X(res_query) \
  X(res_search)
// clang-format on

struct Functions {
#define COFCGI_DNS_REAL_MEMBER(name) decltype(&::name) name;
  COFCGI_DNS_REAL_FUNCTIONS(COFCGI_DNS_REAL_MEMBER)
#undef COFCGI_DNS_REAL_MEMBER
};

// get returns the real functions, resolving them on first use.
const Functions& get();

}  // namespace co::dns::real
