#include "results.h"

#include <netinet/in.h>
#include <resolv.h>
#include <strings.h>

#include <cstdint>
#include <cstring>

namespace co::dns {

const void* address_of(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) return &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr;
  return &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
}

std::string canonical_name(const ares_addrinfo* ai) {
  std::string name = ai->name != nullptr ? ai->name : "";
  for (const ares_addrinfo_cname* c = ai->cnames; c != nullptr;) {
    if (c->alias != nullptr && c->name != nullptr && ::strcasecmp(c->alias, name.c_str()) == 0 &&
        ::strcasecmp(c->name, name.c_str()) != 0 && res_hnok(c->name)) {
      name = c->name;
      c = ai->cnames;  // the chain's records may come in any order
    } else {
      c = c->next;
    }
  }
  return name;
}

HostData host_data_of(const ares_addrinfo* ai, int af) {
  HostData d{canonical_name(ai), {}, {}, af};
  for (const ares_addrinfo_cname* c = ai->cnames; c != nullptr; c = c->next) {
    if (c->alias != nullptr && ::strcasecmp(c->alias, d.name.c_str()) != 0) {
      d.aliases.emplace_back(c->alias);
    }
  }
  for (const ares_addrinfo_node* n = ai->nodes; n != nullptr; n = n->ai_next) {
    const auto* a = static_cast<const char*>(address_of(n->ai_addr));
    if (n->ai_family == af) d.addresses.emplace_back(a, af == AF_INET6 ? 16 : 4);
  }
  return d;
}

HostData host_data_of(const hostent* h) {
  HostData d{h->h_name != nullptr ? h->h_name : "", {}, {}, h->h_addrtype};
  for (char** a = h->h_aliases; a != nullptr && *a != nullptr; ++a) d.aliases.emplace_back(*a);
  for (char** a = h->h_addr_list; a != nullptr && *a != nullptr; ++a) {
    d.addresses.emplace_back(*a, static_cast<std::size_t>(h->h_length));
  }
  return d;
}

bool pack_hostent(const HostData& d, hostent* ret, char* buf, std::size_t buflen) {
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(buf);
  const std::size_t pad = (alignof(char*) - start % alignof(char*)) % alignof(char*);
  std::size_t need = pad + (d.addresses.size() + d.aliases.size() + 2) * sizeof(char*);
  for (const std::string& a : d.addresses) need += a.size();
  for (const std::string& a : d.aliases) need += a.size() + 1;
  if (need + d.name.size() + 1 > buflen) return false;
  // The two pointer arrays first (aligned), then the bytes; names with their NUL.
  auto** addr_list = reinterpret_cast<char**>(buf + pad);
  auto** alias_list = addr_list + d.addresses.size() + 1;
  char* p = reinterpret_cast<char*>(alias_list + d.aliases.size() + 1);
  auto put = [&p](const std::string& s, std::size_t nul) {
    char* at = static_cast<char*>(std::memcpy(p, s.c_str(), s.size() + nul));
    p += s.size() + nul;
    return at;
  };
  for (std::size_t i = 0; i < d.addresses.size(); ++i) addr_list[i] = put(d.addresses[i], 0);
  for (std::size_t i = 0; i < d.aliases.size(); ++i) alias_list[i] = put(d.aliases[i], 1);
  addr_list[d.addresses.size()] = alias_list[d.aliases.size()] = nullptr;
  *ret = hostent{put(d.name, 1), alias_list, d.af, d.af == AF_INET ? 4 : 16, addr_list};
  return true;
}

}  // namespace co::dns
