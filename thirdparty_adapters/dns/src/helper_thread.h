// glibc on a bounded pool of helper threads, for configurations the c-ares path does not
// implement, while only the calling coroutine waits (on an eventfd, through the netpoller).
// At most kHelperThreadsMax threads per process (calls beyond wait in a FIFO queue of at most
// kHelperQueueMax; beyond that a call fails at once with EAI_AGAIN / TRY_AGAIN); a thread
// idle for kHelperIdleSeconds ends. A call that gives up while queued leaves the queue.
#pragma once

#include <netdb.h>

#include <functional>

#include "cares_lookup.h"  // HostCall

namespace co::dns {

inline constexpr int kHelperThreadsMax = 8;
inline constexpr int kHelperIdleSeconds = 10;
inline constexpr std::size_t kHelperQueueMax = 1024;

// helper_queue_length: calls waiting for a helper thread now (Stats::helper_queue_length).
std::size_t helper_queue_length();

// The interposed calls as glibc answers them there, errno and h_errno carried back. A wait
// ended early gives EAI_SYSTEM / NETDB_INTERNAL with errno ECANCELED or ETIMEDOUT: the job is
// dropped if it has not started, else it finishes on its own (it owns what it uses). A full
// queue gives EAI_AGAIN / TRY_AGAIN (errno EAGAIN) at once.
int getaddrinfo_on_helper(const char* node, const char* service, const addrinfo* hints,
                          addrinfo** res);
// hostent_call_on_helper: a gethostbyXX_r `call` (which owns copies of its arguments) with a
// buffer of `buflen` of its own and the caller's *h_errnop, `herrno` (glibc leaves it alone
// after some successes).
using HostentCall = std::function<int(hostent*, char*, std::size_t, hostent**, int*)>;
HostCall hostent_call_on_helper(std::size_t buflen, int herrno, HostentCall call);
int getnameinfo_on_helper(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                          char* serv, socklen_t servlen, int flags);

}  // namespace co::dns
