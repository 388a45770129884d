// glibc on a bounded pool of helper threads, for configurations the c-ares path does not
// implement, while only the calling coroutine waits (on an eventfd, through the netpoller).
#pragma once

#include <netdb.h>

#include <functional>

#include "results.h"

namespace co::dns {

// At most kHelperThreadsMax threads per process (calls beyond wait in a FIFO queue); a
// thread idle for kHelperIdleSeconds ends.
inline constexpr int kHelperThreadsMax = 8;
inline constexpr int kHelperIdleSeconds = 10;

// run_on_helper_thread runs `job` on a helper thread and parks the calling coroutine until it
// has run; errno is left as the caller had it. `job` must touch only heap memory it owns: the
// caller may leave early. False, with errno ECANCELED or ETIMEDOUT, when the caller's wait
// was ended first: the job is dropped if it has not started, else it finishes on its own.
// With no eventfd or no thread at all, `job` runs here, blocking.
bool run_on_helper_thread(std::function<void()> job);

// The interposed calls as glibc answers them there (helper_calls.cpp): arguments and
// results are copied through memory the job owns, errno and h_errno carried back; a wait
// ended early gives EAI_SYSTEM / NETDB_INTERNAL with errno ECANCELED or ETIMEDOUT.
int getaddrinfo_on_helper(const char* node, const char* service, const addrinfo* hints,
                          addrinfo** res);
HostCall gethostbyname_on_helper(const char* name, int af, bool v2, std::size_t buflen);
HostCall gethostbyaddr_on_helper(const void* addr, socklen_t len, int af, std::size_t buflen);
int getnameinfo_on_helper(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                          char* serv, socklen_t servlen, int flags);

}  // namespace co::dns
