// glibc's own name-resolution functions, behind the ones this library exports: looked up
// with dlsym(RTLD_NEXT) when the library loads (and on first use, for calls made from other
// libraries' constructors). A missing one aborts loudly.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

namespace co::dns::real {

using getaddrinfo_fn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
using freeaddrinfo_fn = void (*)(addrinfo*);
using gethostbyname_fn = hostent* (*)(const char*);
using gethostbyname2_fn = hostent* (*)(const char*, int);
using gethostbyname_r_fn = int (*)(const char*, hostent*, char*, size_t, hostent**, int*);
using gethostbyname2_r_fn = int (*)(const char*, int, hostent*, char*, size_t, hostent**, int*);
using getnameinfo_fn = int (*)(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int);

struct Functions {
  getaddrinfo_fn getaddrinfo;
  freeaddrinfo_fn freeaddrinfo;
  gethostbyname_fn gethostbyname;
  gethostbyname2_fn gethostbyname2;
  gethostbyname_r_fn gethostbyname_r;
  gethostbyname2_r_fn gethostbyname2_r;
  getnameinfo_fn getnameinfo;
};

// get returns the real functions, resolving them on first use.
const Functions& get();

}  // namespace co::dns::real
