// The interposed resolver functions. Each one first decides who answers (route()):
//
//   - outside a coroutine with hooks on: glibc, untouched;
//   - nothing to resolve over the network (numeric host, NULL host, a name or address
//     /etc/hosts has, invalid arguments): glibc, in the coroutine (it reads files only);
//   - a configuration c-ares does not reproduce (an nsswitch hosts line other than
//     "files dns", "files" or "dns"; resolv.conf sortlist or options inet6, no-aaaa,
//     no-tld-query; gai.conf settings for getaddrinfo; IDN flags; NI_NOFQDN): glibc on a
//     helper thread, the coroutine parked until it is done;
//   - otherwise c-ares (cares_lookup.h): ares_getaddrinfo, ares_gethostbyaddr, ares_query and
//     ares_search, with the results laid out as glibc lays them out (results.h).
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <string.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "cares_lookup.h"
#include "cofcgi/adapters/dns.h"
#include "cofcgi/runtime/local.h"
#include "cofcgi/runtime/netpoll.h"
#include "helper_calls.h"
#include "real_netdb.h"
#include "results.h"
#include "system_config.h"

namespace co::dns {
namespace {

std::atomic<std::uint64_t> g_cares{0};
std::atomic<std::uint64_t> g_glibc{0};
std::atomic<std::uint64_t> g_helper{0};

const real::Functions& R() { return real::get(); }

enum class Route { glibc, helper, cares };

Route counted(Route r) {
  auto& counter = r == Route::glibc ? g_glibc : r == Route::helper ? g_helper : g_cares;
  counter.fetch_add(1, std::memory_order_relaxed);
  return r;
}

// route decides a call that needs the network; `in_hosts` tells whether /etc/hosts answers
// it (glibc's files source comes first with "files dns").
// "localhost" never goes to c-ares, which answers it itself (RFC 6761) where glibc asks the
// name server when /etc/hosts has no line for it.
template <typename InHosts>
Route route(bool is_getaddrinfo, InHosts in_hosts, const char* name = nullptr) {
  const HostsSources sources = hosts_sources();
  if (sources == HostsSources::files_only) return counted(Route::glibc);
  const bool hosts_answer = sources == HostsSources::files_then_dns && in_hosts();
  if (sources == HostsSources::other || (is_getaddrinfo && gai_conf_customised()) ||
      !resolver_settings()->glibc_only.empty() ||
      (name != nullptr && std::strcmp(name, "localhost") == 0 && !hosts_answer)) {
    return counted(Route::helper);
  }
  return counted(hosts_answer ? Route::glibc : Route::cares);
}

// Keeps errno as the caller had it unless told otherwise.
class ErrnoKeeper {
 public:
  ErrnoKeeper() : saved_(errno) {}
  ~ErrnoKeeper() { errno = saved_; }
  void set(int value) { saved_ = value; }

 private:
  int saved_;
};

// getaddrinfo's text_to_binary_address: what it turns into an address without a lookup.
// (c-ares 1.18.1 would send numeric IPv4 forms such as 127.1 to the server.)
bool numeric_for_getaddrinfo(const char* name) {
  in_addr a{};
  if (std::strpbrk(name, " \t\n\v\f\r") == nullptr && ::inet_aton(name, &a) != 0) return true;
  const char* pct = std::strchr(name, '%');
  const std::string host = pct != nullptr ? std::string(name, pct) : std::string(name);
  in6_addr a6{};
  return ::inet_pton(AF_INET6, host.c_str(), &a6) > 0;
}

// __nss_hostname_digits_dots: names gethostbyname* answer (or reject) without a lookup.
bool numeric_for_gethostbyname(const char* name) {
  const auto is = [name](auto pred, const char* extra) {
    for (const char* p = name; *p; ++p) {
      if (!pred(static_cast<unsigned char>(*p)) && std::strchr(extra, *p) == nullptr) return false;
    }
    return true;
  };
  const std::size_t n = std::strlen(name);
  if (n == 0 || name[n - 1] == '.') return false;
  const bool digits_dots = is(::isdigit, ".");
  const bool hex_colons = std::strchr(name, ':') != nullptr && is(::isxdigit, ":.");
  return digits_dots || hex_colons;
}

// Interfaces for AI_ADDRCONFIG, as glibc's __check_pf sees them: an address of the family
// other than loopback.
void seen_families(bool* v4, bool* v6) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    *v4 = *v6 = true;  // glibc is as pessimistic when netlink fails
    return;
  }
  *v4 = *v6 = false;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      *v4 |= reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr !=
             htonl(INADDR_LOOPBACK);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      *v6 |= !IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr);
    }
  }
  ::freeifaddrs(list);
}

// ---------------------------------------------------------------------------------------
// gethostbyname*

HostCall interrupted(int reason) {
  HostCall c;
  c.rc = c.err = reason;
  c.herrno = NETDB_INTERNAL;
  return c;
}

// gethostbyname2_r's conventions for what c-ares found: a name that is not there is rc 0
// with h_errno set; a server that cannot answer is EAGAIN/TRY_AGAIN.
HostCall host_call_of(const Outcome& o, const ares_addrinfo* ai, int af) {
  if (o.interrupted != 0) return interrupted(o.interrupted);
  HostCall c;
  switch (o.status) {
    case ARES_SUCCESS:
      c.found = true;
      if (ai != nullptr) c.data = host_data_of(ai, af);
      break;
    case ARES_ENOTFOUND:
    case ARES_EBADNAME: c.herrno = HOST_NOT_FOUND; break;
    case ARES_ENODATA: c.herrno = NO_DATA; break;
    default: c.rc = c.err = EAGAIN; c.herrno = TRY_AGAIN;
  }
  return c;
}

HostCall cares_gethostbyname(const char* name, int af) {
  if (name[0] == '\0' || !res_hnok(name)) {  // glibc rejects these without a query
    HostCall c;
    c.herrno = name[0] == '\0' ? NO_RECOVERY : HOST_NOT_FOUND;
    return c;
  }
  AresAddrinfo ai;
  const Outcome o = resolve_name(name, af, /*sort=*/false, &ai);
  return host_call_of(o, ai.get(), af);
}

// copy_out gives a HostCall the _r functions' shape: *result, *h_errnop, errno, the return.
int copy_out(const HostCall& c, hostent* ret, char* buf, std::size_t buflen, hostent** result,
             int* h_errnop) {
  if (c.global_herrno != -1) h_errno = c.global_herrno;  // res_search's side effect
  *result = nullptr;
  *h_errnop = c.herrno;
  if (c.found) {
    if (!pack_hostent(c.data, ret, buf, buflen)) {
      *h_errnop = NETDB_INTERNAL;
      errno = ERANGE;
      return ERANGE;
    }
    *result = ret;
  }
  errno = c.err;
  return c.rc;
}

int gethostbyname_any_r(const char* name, int af, bool v2, hostent* ret, char* buf,
                        std::size_t buflen, hostent** result, int* h_errnop) {
  const bool glibc_direct =
      name == nullptr || (af != AF_INET && af != AF_INET6) || numeric_for_gethostbyname(name);
  const Route r = glibc_direct
                      ? counted(Route::glibc)
                      : route(
                            false,
                            [&] {
                              const std::uint8_t kinds = hosts_index()->kinds_of(name);
                              return (kinds & (af == AF_INET ? HostsIndex::kV4 | HostsIndex::kV6AsV4
                                                             : HostsIndex::kV6)) != 0;
                            },
                            name);
  if (r == Route::glibc) {
    return v2 ? R().gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop)
              : R().gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
  }
  const HostCall c = r == Route::helper ? gethostbyname_on_helper(name, af, v2, buflen)
                                        : cares_gethostbyname(name, af);
  return copy_out(c, ret, buf, buflen, result, h_errnop);
}

int gethostbyaddr_any_r(const void* addr, socklen_t len, int af, hostent* ret, char* buf,
                        std::size_t buflen, hostent** result, int* h_errnop) {
  const bool glibc_direct =
      addr == nullptr || !((af == AF_INET && len == 4) || (af == AF_INET6 && len == 16));
  const Route r = glibc_direct ? counted(Route::glibc)
                               : route(false, [&] { return hosts_index()->has_address(af, addr); });
  if (r == Route::glibc)
    return R().gethostbyaddr_r(addr, len, af, ret, buf, buflen, result, h_errnop);
  if (r == Route::helper) {
    return copy_out(gethostbyaddr_on_helper(addr, len, af, buflen), ret, buf, buflen, result,
                    h_errnop);
  }
  // A v4-mapped address is looked up, and answered, as IPv4 (glibc's nss_dns unmaps it).
  if (af == AF_INET6 && IN6_IS_ADDR_V4MAPPED(static_cast<const in6_addr*>(addr))) {
    addr = static_cast<const unsigned char*>(addr) + 12;
    len = 4;
    af = AF_INET;
  }
  std::string name;
  std::vector<std::string> aliases;
  const Outcome o = resolve_address(addr, static_cast<int>(len), af, &name, &aliases);
  HostCall c = host_call_of(o, nullptr, af);
  if (c.herrno == TRY_AGAIN) c.rc = c.err = 0;  // gethostbyaddr_r returns 0 where 2_r says EAGAIN
  if (o.interrupted == 0 && o.status == ARES_SUCCESS) {
    c.data = HostData{std::move(name), std::move(aliases), {Address{af, {}}}, af};
    std::memcpy(c.data.addresses[0].bytes.data(), addr, len);
  }
  return copy_out(c, ret, buf, buflen, result, h_errnop);
}

// gethostbyname / gethostbyname2 / gethostbyaddr: storage private to each coroutine.
struct HostentStorage {
  hostent he{};
  std::vector<char> buf = std::vector<char>(1024);
};

co::Local<HostentStorage>& hostent_storage() {
  static co::Local<HostentStorage> storage;
  return storage;
}

template <typename CallR>
hostent* with_own_storage(CallR call_r) {
  HostentStorage& s = hostent_storage().get();
  for (;;) {
    hostent* result = nullptr;
    int herr = 0;
    const int rc = call_r(&s.he, s.buf.data(), s.buf.size(), &result, &herr);
    if (rc == ERANGE && herr == NETDB_INTERNAL) {
      s.buf.resize(s.buf.size() * 2);
      continue;
    }
    if (herr != 0) h_errno = herr;
    return result;
  }
}

// ---------------------------------------------------------------------------------------
// getaddrinfo

int eai_of(const Outcome& o) {
  if (o.interrupted != 0) {
    errno = o.interrupted;
    return EAI_SYSTEM;
  }
  switch (o.status) {
    case ARES_SUCCESS: return 0;
    case ARES_ENOTFOUND:
    case ARES_EBADNAME: return EAI_NONAME;
    case ARES_ENODATA: return EAI_NODATA;
    case ARES_ENOMEM: return EAI_MEMORY;
    default: return EAI_AGAIN;  // timeouts, refusals, SERVFAIL, no usable configuration
  }
}

// The (socket type, protocol, port) tuples are glibc's: a numeric probe with the same hints
// gives them, or the error glibc reports before any lookup.
int service_tuples(const addrinfo& req, const char* service, std::vector<ServTuple>* out) {
  addrinfo probe_hints{};
  probe_hints.ai_flags = (req.ai_flags & AI_NUMERICSERV) | AI_NUMERICHOST;
  probe_hints.ai_family = req.ai_family == AF_INET6 ? AF_INET6 : AF_INET;
  probe_hints.ai_socktype = req.ai_socktype;
  probe_hints.ai_protocol = req.ai_protocol;
  addrinfo* probe = nullptr;
  const int rc =
      R().getaddrinfo(req.ai_family == AF_INET6 ? "::" : "0.0.0.0", service, &probe_hints, &probe);
  if (rc != 0) return rc;
  for (const addrinfo* p = probe; p != nullptr; p = p->ai_next) {
    const in_port_t port = p->ai_family == AF_INET6
                               ? reinterpret_cast<const sockaddr_in6*>(p->ai_addr)->sin6_port
                               : reinterpret_cast<const sockaddr_in*>(p->ai_addr)->sin_port;
    out->push_back(ServTuple{p->ai_socktype, p->ai_protocol, port});
  }
  R().freeaddrinfo(probe);
  return 0;
}

// The addresses c-ares gives for the request, AI_V4MAPPED and AI_ALL applied (c-ares 1.18.1
// ignores both): AF_INET6 asks for AAAA, then for A (mapped) when there was no IPv6 address
// or AI_ALL is set.
int cares_addresses(const char* node, const addrinfo& req, std::vector<Address>* out,
                    std::string* canon) {
  const bool mapped = req.ai_family == AF_INET6 && (req.ai_flags & AI_V4MAPPED);
  const bool all = mapped && (req.ai_flags & AI_ALL);
  AresAddrinfo ai;
  Outcome o = resolve_name(node, all ? AF_UNSPEC : req.ai_family, /*sort=*/true, &ai);
  if (mapped && !all && o.interrupted == 0 &&
      (o.status == ARES_ENODATA || o.status == ARES_ENOTFOUND)) {
    o = resolve_name(node, AF_INET, /*sort=*/true, &ai);
  }
  if (const int rc = eai_of(o); rc != 0) return rc;
  const HostData d = host_data_of(ai.get(), AF_UNSPEC);
  for (const ares_addrinfo_node* n = ai->nodes; n != nullptr; n = n->ai_next) {
    Address a;
    a.family = mapped ? AF_INET6 : n->ai_family;
    if (n->ai_family == AF_INET6) {
      std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(n->ai_addr)->sin6_addr,
                  16);
    } else {
      const int at = mapped ? 12 : 0;
      if (mapped) a.bytes[10] = a.bytes[11] = 0xff;
      std::memcpy(a.bytes.data() + at, &reinterpret_cast<const sockaddr_in*>(n->ai_addr)->sin_addr,
                  4);
    }
    out->push_back(a);
  }
  *canon = d.name;
  return 0;
}

int cares_getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                      addrinfo** pai) {
  ErrnoKeeper keep;
  addrinfo req{};
  req.ai_flags = hints != nullptr ? hints->ai_flags : (AI_V4MAPPED | AI_ADDRCONFIG);
  req.ai_family = hints != nullptr ? hints->ai_family : AF_UNSPEC;
  req.ai_socktype = hints != nullptr ? hints->ai_socktype : 0;
  req.ai_protocol = hints != nullptr ? hints->ai_protocol : 0;
  if (req.ai_flags & AI_ADDRCONFIG) {  // c-ares 1.18.1 ignores it
    bool v4 = true, v6 = true;
    seen_families(&v4, &v6);
    if (req.ai_family == AF_UNSPEC && v4 != v6) req.ai_family = v4 ? AF_INET : AF_INET6;
    if ((req.ai_family == AF_INET && !v4) || (req.ai_family == AF_INET6 && !v6)) return EAI_NONAME;
  }
  std::vector<ServTuple> tuples;
  if (const int rc = service_tuples(req, service, &tuples); rc != 0) {
    if (rc == EAI_SYSTEM) keep.set(errno);
    return rc;
  }
  // glibc sends nothing for these (for one family with AI_CANONNAME it asks
  // gethostbyname3_r, which does)
  const bool checked = !(req.ai_flags & AI_CANONNAME) || req.ai_family == AF_UNSPEC;
  if (checked && !res_hnok(node)) return EAI_NONAME;
  std::vector<Address> addresses;
  std::string canon;
  if (const int rc = cares_addresses(node, req, &addresses, &canon); rc != 0) {
    if (rc == EAI_SYSTEM) keep.set(errno);
    return rc;
  }
  const int rc = make_addrinfo(addresses, tuples, req.ai_flags,
                               (req.ai_flags & AI_CANONNAME) ? &canon : nullptr, pai);
  if (rc != 0) R().freeaddrinfo(*pai);
  return rc != 0 ? rc : *pai == nullptr ? EAI_NONAME : 0;
}

bool hosts_file_answers_getaddrinfo(const char* name, int family, int flags) {
  const std::uint8_t kinds = hosts_index()->kinds_of(name);
  const std::uint8_t v4 = HostsIndex::kV4 | HostsIndex::kV6AsV4;
  switch (family) {
    case AF_INET: return (kinds & v4) != 0;
    case AF_INET6: return (kinds & HostsIndex::kV6) || ((flags & AI_V4MAPPED) && (kinds & v4));
    default: return kinds != 0;
  }
}

constexpr int kKnownFlags = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_ADDRCONFIG |
                            AI_V4MAPPED | AI_NUMERICSERV | AI_ALL;
constexpr int kIdnFlags = AI_IDN | AI_CANONIDN | 0x0100 | 0x0200;  // + the deprecated IDN bits

int getaddrinfo_in_coroutine(const char* node, const char* service, const addrinfo* hints,
                             addrinfo** pai) {
  const int flags = hints != nullptr ? hints->ai_flags : (AI_V4MAPPED | AI_ADDRCONFIG);
  const int family = hints != nullptr ? hints->ai_family : AF_UNSPEC;
  const bool glibc_direct = node == nullptr || (node[0] == '*' && node[1] == '\0') ||
                            (flags & ~(kKnownFlags | kIdnFlags)) != 0 ||
                            (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) ||
                            (flags & AI_NUMERICHOST) != 0 || numeric_for_getaddrinfo(node);
  Route r = Route::glibc;
  if (glibc_direct) {
    counted(r);
  } else if (flags & kIdnFlags) {
    r = counted(Route::helper);
  } else {
    r = route(
        true, [&] { return hosts_file_answers_getaddrinfo(node, family, flags); }, node);
  }
  if (r == Route::glibc) return R().getaddrinfo(node, service, hints, pai);
  if (r == Route::helper) return getaddrinfo_on_helper(node, service, hints, pai);
  return cares_getaddrinfo(node, service, hints, pai);
}

// ---------------------------------------------------------------------------------------
// getnameinfo

constexpr int kKnownNiFlags = NI_NUMERICHOST | NI_NUMERICSERV | NI_NOFQDN | NI_NAMEREQD | NI_DGRAM;

int getnameinfo_in_coroutine(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                             char* serv, socklen_t servlen, int flags) {
  const bool v4 = sa != nullptr && sa->sa_family == AF_INET && salen >= sizeof(sockaddr_in);
  const bool v6 = sa != nullptr && sa->sa_family == AF_INET6 && salen >= sizeof(sockaddr_in6);
  const bool glibc_direct = host == nullptr || hostlen == 0 || (flags & NI_NUMERICHOST) ||
                            !(v4 || v6) || (flags & ~(kKnownNiFlags | NI_IDN)) != 0;
  // The address asked about; a v4-mapped one is looked up as IPv4, as glibc does.
  const auto* a6 = v6 ? &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr : nullptr;
  const bool unmap = v6 && IN6_IS_ADDR_V4MAPPED(a6);
  const int af = v4 || unmap ? AF_INET : AF_INET6;
  const void* addr =
      v4      ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr)
      : unmap ? static_cast<const void*>(a6->s6_addr + 12)
              : static_cast<const void*>(a6);
  Route r = Route::glibc;
  if (glibc_direct) {
    counted(r);
  } else if (flags & (NI_NOFQDN | NI_IDN)) {
    r = counted(Route::helper);
  } else {
    r = route(false,
              [&] { return hosts_index()->has_address(v4 ? AF_INET : AF_INET6, v4 ? addr : a6); });
  }
  if (r == Route::glibc) return R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  if (r == Route::helper) {
    return getnameinfo_on_helper(sa, salen, host, hostlen, serv, servlen, flags);
  }
  ErrnoKeeper keep;
  std::string name;
  std::vector<std::string> aliases;
  const Outcome o = resolve_address(addr, af == AF_INET ? 4 : 16, af, &name, &aliases);
  if (o.interrupted == 0 && o.status == ARES_SUCCESS) {
    if (name.size() + 1 > hostlen) return EAI_OVERFLOW;
    std::memcpy(host, name.c_str(), name.size() + 1);
    if (serv == nullptr || servlen == 0) return 0;
    flags |= NI_NUMERICHOST;  // the service part only
    host = nullptr;
    hostlen = 0;
  } else if (o.interrupted != 0 || (o.status != ARES_ENOTFOUND && o.status != ARES_ENODATA)) {
    const int rc = eai_of(o);
    if (rc == EAI_SYSTEM) keep.set(errno);
    return rc;
  } else if (flags & NI_NAMEREQD) {
    return EAI_NONAME;
  } else {
    flags |= NI_NUMERICHOST;  // the numeric form (and the service) exactly as glibc writes them
  }
  const int rc = R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  if (rc == EAI_SYSTEM) keep.set(errno);
  return rc;
}

// ---------------------------------------------------------------------------------------
// res_query / res_search

int res_in_coroutine(bool search, const char* name, int dns_class, int type, unsigned char* answer,
                     int anslen) {
  const Route r = name == nullptr || anslen < 0             ? counted(Route::glibc)
                  : resolver_settings()->glibc_only.empty() ? counted(Route::cares)
                                                            : counted(Route::helper);
  if (r == Route::glibc) {
    return (search ? R().res_search : R().res_query)(name, dns_class, type, answer, anslen);
  }
  if (r == Route::helper) return res_on_helper(search, name, dns_class, type, answer, anslen);
  std::vector<unsigned char> packet;
  const Outcome o = query(name, dns_class, type, search, &packet);
  std::memcpy(answer, packet.data(), std::min(packet.size(), static_cast<std::size_t>(anslen)));
  if (o.interrupted != 0) {
    h_errno = NETDB_INTERNAL;
    errno = o.interrupted;
    return -1;
  }
  switch (o.status) {
    case ARES_SUCCESS: return static_cast<int>(packet.size());  // as glibc: may exceed anslen
    case ARES_ENOTFOUND: h_errno = HOST_NOT_FOUND; break;
    case ARES_ENODATA: h_errno = NO_DATA; break;
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
    case ARES_ESERVFAIL: h_errno = TRY_AGAIN; break;
    default: h_errno = NO_RECOVERY;
  }
  return -1;
}

}  // namespace

Stats stats() {
  Stats s;
  s.cares_lookups = g_cares.load(std::memory_order_relaxed);
  s.glibc_lookups = g_glibc.load(std::memory_order_relaxed);
  s.helper_thread_lookups = g_helper.load(std::memory_order_relaxed);
  s.queries_sent = packets_sent();
  return s;
}

void release_thread_resolver() { release_thread_template(); }

}  // namespace co::dns

using namespace co::dns;

#define COFCGI_NETDB_API __attribute__((visibility("default")))

extern "C" {

COFCGI_NETDB_API int getaddrinfo(const char* __restrict node, const char* __restrict service,
                                 const addrinfo* __restrict hints, addrinfo** __restrict pai) {
  if (!co::hooks_active()) return R().getaddrinfo(node, service, hints, pai);
  return getaddrinfo_in_coroutine(node, service, hints, pai);
}

COFCGI_NETDB_API hostent* gethostbyname(const char* name) {
  if (!co::hooks_active()) return R().gethostbyname(name);
  return with_own_storage([name](hostent* he, char* buf, size_t len, hostent** res, int* herr) {
    return gethostbyname_any_r(name, AF_INET, false, he, buf, len, res, herr);
  });
}

COFCGI_NETDB_API hostent* gethostbyname2(const char* name, int af) {
  if (!co::hooks_active()) return R().gethostbyname2(name, af);
  return with_own_storage([name, af](hostent* he, char* buf, size_t len, hostent** res, int* herr) {
    return gethostbyname_any_r(name, af, true, he, buf, len, res, herr);
  });
}

COFCGI_NETDB_API int gethostbyname_r(const char* __restrict name, hostent* __restrict ret,
                                     char* __restrict buf, size_t buflen,
                                     hostent** __restrict result, int* __restrict h_errnop) {
  if (!co::hooks_active()) return R().gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
  return gethostbyname_any_r(name, AF_INET, false, ret, buf, buflen, result, h_errnop);
}

COFCGI_NETDB_API int gethostbyname2_r(const char* __restrict name, int af, hostent* __restrict ret,
                                      char* __restrict buf, size_t buflen,
                                      hostent** __restrict result, int* __restrict h_errnop) {
  if (!co::hooks_active()) {
    return R().gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
  }
  return gethostbyname_any_r(name, af, true, ret, buf, buflen, result, h_errnop);
}

COFCGI_NETDB_API hostent* gethostbyaddr(const void* addr, socklen_t len, int af) {
  if (!co::hooks_active()) return R().gethostbyaddr(addr, len, af);
  return with_own_storage([=](hostent* he, char* buf, size_t size, hostent** res, int* herr) {
    return gethostbyaddr_any_r(addr, len, af, he, buf, size, res, herr);
  });
}

COFCGI_NETDB_API int gethostbyaddr_r(const void* __restrict addr, socklen_t len, int af,
                                     hostent* __restrict ret, char* __restrict buf, size_t buflen,
                                     hostent** __restrict result, int* __restrict h_errnop) {
  if (!co::hooks_active()) {
    return R().gethostbyaddr_r(addr, len, af, ret, buf, buflen, result, h_errnop);
  }
  return gethostbyaddr_any_r(addr, len, af, ret, buf, buflen, result, h_errnop);
}

COFCGI_NETDB_API int getnameinfo(const sockaddr* __restrict sa, socklen_t salen,
                                 char* __restrict host, socklen_t hostlen, char* __restrict serv,
                                 socklen_t servlen, int flags) {
  if (!co::hooks_active()) return R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  return getnameinfo_in_coroutine(sa, salen, host, hostlen, serv, servlen, flags);
}

COFCGI_NETDB_API int res_query(const char* name, int dns_class, int type, unsigned char* answer,
                               int anslen) {
  if (!co::hooks_active()) return R().res_query(name, dns_class, type, answer, anslen);
  return res_in_coroutine(false, name, dns_class, type, answer, anslen);
}

COFCGI_NETDB_API int res_search(const char* name, int dns_class, int type, unsigned char* answer,
                                int anslen) {
  if (!co::hooks_active()) return R().res_search(name, dns_class, type, answer, anslen);
  return res_in_coroutine(true, name, dns_class, type, answer, anslen);
}

}  // extern "C"
