// Pointers to the real libc functions behind every hook, one per hooked_calls.def entry,
// resolved eagerly (a constructor) with dlsym(RTLD_NEXT); a missing one aborts loudly at
// load time rather than failing on first use.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fortify_decls.h"

namespace co::hooks::real {

#define COFCGI_HOOK(name) extern decltype(&::name) name;
#include "hooked_calls.def"
#undef COFCGI_HOOK

// resolve_all fills every pointer; idempotent and safe to call from any hook that runs
// before the library's constructor (another library's constructor calling read()).
void resolve_all();

}  // namespace co::hooks::real

// REAL(name) is the real function, resolving on first use if the constructor has not run.
#define REAL(name)                                                   \
  (__builtin_expect(::co::hooks::real::name == nullptr, 0)           \
       ? (::co::hooks::real::resolve_all(), ::co::hooks::real::name) \
       : ::co::hooks::real::name)
