// libco declares co_accept in no header, so its programs declare it themselves, as a C++
// function. This TU does not see the extern "C" declaration in co_routine.h and exports the
// C++-mangled twin those programs link against.
#include <sys/socket.h>

#include "cofcgi/runtime/netpoll.h"

#define COFCGI_EXPORT __attribute__((visibility("default")))

COFCGI_EXPORT int co_accept(int fd, struct sockaddr* addr, socklen_t* len) {
  // As the extern "C" one (connect_hooks.cpp): O_NONBLOCK in the libco-variant profile.
  return accept4(fd, addr, len, co::libco_profile().enabled ? SOCK_NONBLOCK : 0);
}
