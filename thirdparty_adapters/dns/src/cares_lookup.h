// Lookups through c-ares, each driven by the coroutine that makes it. A lookup gets its own
// channel, a copy (ares_dup) of this thread's template channel, which c-ares made from
// resolv.conf and which is made again when the configuration changes. The coroutine polls
// the channel's sockets with co::poll_fds (ares_timeout as the timeout) and hands readiness
// to ares_process_fd until c-ares calls back. A channel of its own is what makes a lookup
// cancellable: c-ares 1.18.1 cancels only whole channels (ares_cancel), so when the
// coroutine's wait ends early (cancelled, past its deadline) the lookup destroys its channel
// -- queries, sockets, memory -- and reports why. Call these only in a coroutine whose hooks
// are on.
#pragma once

#include <ares.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace co::dns {

// How a lookup ended: c-ares's status, or `interrupted` (ECANCELED/ETIMEDOUT) when the
// coroutine's wait was ended and the lookup given up.
struct Outcome {
  int status = ARES_ENOTINITIALIZED;
  int interrupted = 0;
};

struct AddrinfoDeleter {
  void operator()(ares_addrinfo* ai) const { ares_freeaddrinfo(ai); }
};
using AresAddrinfo = std::unique_ptr<ares_addrinfo, AddrinfoDeleter>;

// resolve_name: ares_getaddrinfo for one family (AF_INET, AF_INET6 or AF_UNSPEC), DNS only
// (the caller has handled numeric hosts and /etc/hosts). `sort`: c-ares's RFC 6724 sort;
// without it the addresses keep the order of the answers.
Outcome resolve_name(const char* name, int family, bool sort, AresAddrinfo* result);

// resolve_address: the PTR name of an address (ares_gethostbyaddr), and its aliases.
Outcome resolve_address(const void* addr, int len, int family, std::string* name,
                        std::vector<std::string>* aliases);

// query: res_query (search false) or res_search (search true) through ares_query/ares_search;
// the response, when there is one, in *packet (also for NXDOMAIN and no-data answers).
Outcome query(const char* name, int dns_class, int type, bool search,
              std::vector<unsigned char>* packet);

// release_thread_template destroys this thread's template channel (the next lookup makes a
// new one).
void release_thread_template();

// packets_sent counts the DNS packets c-ares sent, all threads.
std::uint64_t packets_sent();

}  // namespace co::dns
