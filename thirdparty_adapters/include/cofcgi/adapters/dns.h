// Name resolution that parks only the calling coroutine: linking cofcgi::adapters interposes
// getaddrinfo, gethostbyname*, gethostbyaddr*, getnameinfo, res_query and res_search, answered
// in a coroutine whose hooks are on through c-ares on the thread's netpoller, laid out as
// glibc's (thirdparty_adapters/dns/README.md). This header only adds monitoring and upkeep.
#pragma once

#include <cstdint>

#include "cofcgi/runtime/export.h"

namespace co::dns {

// Process-wide counters of the interposed calls made inside coroutines with hooks on (calls
// elsewhere go to glibc untouched and are not counted).
struct Stats {
  std::uint64_t cares_lookups = 0;          // answered through c-ares
  std::uint64_t glibc_lookups = 0;          // handed straight to glibc: no network needed
                                            // (numeric host, /etc/hosts, argument errors)
  std::uint64_t helper_thread_lookups = 0;  // glibc on a helper thread (configuration the
                                            // c-ares path does not reproduce)
  std::uint64_t queries_sent = 0;           // DNS packets c-ares sent (retries included)
  std::size_t helper_queue_length = 0;      // now: lookups waiting for a helper thread
};

COFCGI_API Stats stats();

// release_thread_resolver destroys the calling thread's template c-ares channel (each
// lookup copies it; it holds no sockets, but some memory); the next lookup on the thread
// makes a new one. Other threads' are theirs to release; a thread's goes when it ends.
COFCGI_API void release_thread_resolver();

}  // namespace co::dns
