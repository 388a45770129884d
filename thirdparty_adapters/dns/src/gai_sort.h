// What getaddrinfo needs from the interfaces, and its RFC 3484 sort, as glibc 2.36 has them:
// __check_pf (AI_ADDRCONFIG and the source-address flags), __check_native (rule 7) and
// rfc3484_sort with the built-in tables (gai.conf settings send lookups to glibc instead).
// Everything here uses raw system calls, never the hooks: netlink dumps and connect() on a
// UDP socket are answered by the kernel at once.
#pragma once

#include <netdb.h>

#include <cstdint>
#include <vector>

namespace co::dns {

struct InterfaceAddress {
  std::uint32_t addr[4];  // IPv6, or IPv4 as ::ffff:a.b.c.d
  std::uint8_t flags;     // in6ai_deprecated (1) | in6ai_homeaddress (2)
  std::uint8_t prefixlen;
  std::uint32_t index;
};

struct InterfaceInfo {
  bool seen_ipv4 = true;  // pessimistic when netlink fails, as glibc is
  bool seen_ipv6 = true;
  std::vector<InterfaceAddress> addresses;  // kept only when an IPv6 address was seen
};

InterfaceInfo check_pf();

// sort_addrinfo reorders a getaddrinfo result (more than one address) as glibc does and
// returns the new head; the canonical name moves to the new first entry.
addrinfo* sort_addrinfo(addrinfo* list, int nresults, const InterfaceInfo* known_pf);

}  // namespace co::dns
