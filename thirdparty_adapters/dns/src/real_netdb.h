// glibc's own name-resolution functions, behind the ones this library exports: looked up
// with dlsym(RTLD_NEXT) when the library loads (and on first use, for calls made from other
// libraries' constructors). A missing one aborts loudly.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

namespace co::dns::real {

struct Functions {
  decltype(&::getaddrinfo) getaddrinfo;
  decltype(&::freeaddrinfo) freeaddrinfo;
  decltype(&::gethostbyname) gethostbyname;
  decltype(&::gethostbyname2) gethostbyname2;
  decltype(&::gethostbyname_r) gethostbyname_r;
  decltype(&::gethostbyname2_r) gethostbyname2_r;
  decltype(&::gethostbyaddr) gethostbyaddr;
  decltype(&::gethostbyaddr_r) gethostbyaddr_r;
  decltype(&::getnameinfo) getnameinfo;
  int (*res_query)(const char*, int, int, unsigned char*, int);
  int (*res_search)(const char*, int, int, unsigned char*, int);
};

// get returns the real functions, resolving them on first use.
const Functions& get();

}  // namespace co::dns::real
