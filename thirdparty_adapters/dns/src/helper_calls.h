// The interposed calls answered by glibc itself on a helper thread (helper_thread.h), for
// configurations the c-ares path does not reproduce. Each copies its arguments and results
// through heap memory the job owns, carries errno and the thread's h_errno back, and gives
// EAI_SYSTEM / NETDB_INTERNAL with errno ECANCELED or ETIMEDOUT when the caller's wait was
// ended first.
#pragma once

#include <netdb.h>

#include "results.h"

namespace co::dns {

int getaddrinfo_on_helper(const char* node, const char* service, const addrinfo* hints,
                          addrinfo** res);
// gethostbyname2_r (`v2`) or gethostbyname_r.
HostCall gethostbyname_on_helper(const char* name, int af, bool v2, std::size_t buflen);
HostCall gethostbyaddr_on_helper(const void* addr, socklen_t len, int af, std::size_t buflen);
int getnameinfo_on_helper(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                          char* serv, socklen_t servlen, int flags);
}  // namespace co::dns
