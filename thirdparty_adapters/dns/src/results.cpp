#include "results.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cctype>
#include <cstring>
#include <utility>

namespace co::dns {

bool res_hnok(const char* name) {
  const std::size_t n = std::strlen(name);
  if (n > 254 || (n == 254 && name[253] != '.')) return false;  // over NS_MAXCDNAME in wire form
  std::size_t label = 0;
  for (const char* p = name; *p != '\0'; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '.') {
      if (label == 0 && !(p == name && p[1] == '\0')) return false;  // empty label ("." is fine)
      label = 0;
      continue;
    }
    if (!(std::isalnum(c) || c == '-' || c == '_') || ++label > 63) return false;
    if (c == '-' && label == 1 && p == name) return false;
  }
  return true;
}

std::string canonical_name(const ares_addrinfo* ai) {
  std::string name = ai->name != nullptr ? ai->name : "";
  for (bool moved = true; moved;) {
    moved = false;
    for (const ares_addrinfo_cname* c = ai->cnames; c != nullptr; c = c->next) {
      if (c->alias != nullptr && c->name != nullptr && ::strcasecmp(c->alias, name.c_str()) == 0 &&
          ::strcasecmp(c->name, name.c_str()) != 0 && res_hnok(c->name)) {
        name = c->name;
        moved = true;
        break;
      }
    }
  }
  return name;
}

HostData host_data_of(const ares_addrinfo* ai, int af) {
  HostData d;
  d.af = af;
  d.name = canonical_name(ai);
  for (const ares_addrinfo_cname* c = ai->cnames; c != nullptr; c = c->next) {
    if (c->alias != nullptr && ::strcasecmp(c->alias, d.name.c_str()) != 0) {
      d.aliases.emplace_back(c->alias);
    }
  }
  for (const ares_addrinfo_node* n = ai->nodes; n != nullptr; n = n->ai_next) {
    Address a;
    a.family = af;
    if (n->ai_family == AF_INET6) {
      std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(n->ai_addr)->sin6_addr,
                  16);
    } else if (af == AF_INET6) {  // v4-mapped
      a.bytes[10] = a.bytes[11] = 0xff;
      std::memcpy(a.bytes.data() + 12, &reinterpret_cast<const sockaddr_in*>(n->ai_addr)->sin_addr,
                  4);
    } else {
      std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(n->ai_addr)->sin_addr, 4);
    }
    d.addresses.push_back(a);
  }
  return d;
}

HostData host_data_of(const hostent* h) {
  HostData d;
  d.name = h->h_name != nullptr ? h->h_name : "";
  for (char** a = h->h_aliases; a != nullptr && *a != nullptr; ++a) d.aliases.emplace_back(*a);
  d.af = h->h_addrtype;
  for (char** a = h->h_addr_list; a != nullptr && *a != nullptr; ++a) {
    Address addr;
    addr.family = h->h_addrtype;
    std::memcpy(addr.bytes.data(), *a, static_cast<std::size_t>(h->h_length));
    d.addresses.push_back(addr);
  }
  return d;
}

bool pack_hostent(const HostData& d, hostent* ret, char* buf, std::size_t buflen) {
  const std::size_t len = d.af == AF_INET ? 4 : 16;
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(buf);
  const std::size_t pad = (alignof(char*) - start % alignof(char*)) % alignof(char*);
  std::size_t need = pad + (d.addresses.size() + 1 + d.aliases.size() + 1) * sizeof(char*) +
                     d.addresses.size() * len + d.name.size() + 1;
  for (const std::string& a : d.aliases) need += a.size() + 1;
  if (need > buflen) return false;
  char* p = buf + pad;
  auto** addr_list = reinterpret_cast<char**>(p);
  p += (d.addresses.size() + 1) * sizeof(char*);
  auto** alias_list = reinterpret_cast<char**>(p);
  p += (d.aliases.size() + 1) * sizeof(char*);
  auto put = [&p](const void* data, std::size_t n) {
    char* at = static_cast<char*>(std::memcpy(p, data, n));
    p += n;
    return at;
  };
  for (std::size_t i = 0; i < d.addresses.size(); ++i) {
    addr_list[i] = put(d.addresses[i].bytes.data(), len);
  }
  addr_list[d.addresses.size()] = nullptr;
  ret->h_name = put(d.name.c_str(), d.name.size() + 1);
  for (std::size_t i = 0; i < d.aliases.size(); ++i) {
    alias_list[i] = put(d.aliases[i].c_str(), d.aliases[i].size() + 1);
  }
  alias_list[d.aliases.size()] = nullptr;
  ret->h_aliases = alias_list;
  ret->h_addrtype = d.af;
  ret->h_length = static_cast<int>(len);
  ret->h_addr_list = addr_list;
  return true;
}

int make_addrinfo(const std::vector<Address>& addresses, const std::vector<ServTuple>& tuples,
                  int flags, const std::string* canon, addrinfo** head) {
  *head = nullptr;
  addrinfo** tail = head;
  char* canon_copy = canon != nullptr ? ::strdup(canon->c_str()) : nullptr;
  if (canon != nullptr && canon_copy == nullptr) return EAI_MEMORY;
  for (const Address& a : addresses) {
    const socklen_t socklen = a.family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    for (const ServTuple& s : tuples) {
      auto* ai = static_cast<addrinfo*>(::calloc(1, sizeof(addrinfo) + socklen));
      if (ai == nullptr) {
        ::free(canon_copy);
        return EAI_MEMORY;  // the caller frees what *head holds
      }
      ai->ai_flags = flags;
      ai->ai_family = a.family;
      ai->ai_socktype = s.socktype;
      ai->ai_protocol = s.protocol;
      ai->ai_addrlen = socklen;
      ai->ai_addr = reinterpret_cast<sockaddr*>(ai + 1);
      ai->ai_canonname = std::exchange(canon_copy, nullptr);  // the first entry only
      if (a.family == AF_INET6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(ai->ai_addr);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = s.port;
        std::memcpy(&sin6->sin6_addr, a.bytes.data(), 16);
      } else {
        auto* sin = reinterpret_cast<sockaddr_in*>(ai->ai_addr);
        sin->sin_family = AF_INET;
        sin->sin_port = s.port;
        std::memcpy(&sin->sin_addr, a.bytes.data(), 4);
      }
      *tail = ai;
      tail = &ai->ai_next;
    }
  }
  ::free(canon_copy);  // no entry took it
  return 0;
}

}  // namespace co::dns
