// The interposed resolver functions. Each decides first who answers (README, "Who answers"):
// glibc, here or on a helper thread, or c-ares, with results laid out as glibc lays them out.
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>  // res_hnok: glibc's host-name check (c-ares 1.18.1 makes none)
#include <strings.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cares_lookup.h"
#include "cofcgi/adapters/dns.h"
#include "cofcgi/runtime/local.h"
#include "cofcgi/runtime/netpoll.h"
#include "helper_thread.h"
#include "real_netdb.h"
#include "system_config.h"

namespace co::dns {
namespace {

enum class Route { glibc, helper, cares };
std::atomic<std::uint64_t> g_routed[3];  // calls by Route

// counted: only calls in a coroutine with hooks on count (others go to glibc untouched).
Route counted(Route r) {
  if (co::hooks_active()) ++g_routed[static_cast<int>(r)];
  return r;
}

// route decides a call that needs the network; `in_hosts` tells whether /etc/hosts answers
// it (glibc's files source comes first with "files dns"). "localhost" without a hosts line
// goes to glibc: c-ares answers it itself (RFC 6761) where glibc asks the name server.
template <typename InHosts>
Route route(bool is_getaddrinfo, InHosts in_hosts, const char* name = "") {
  const HostsSources sources = hosts_sources();
  if (sources == HostsSources::files_only) return counted(Route::glibc);
  const bool hosts_answer = sources == HostsSources::files_then_dns && in_hosts();
  if (sources == HostsSources::other || (is_getaddrinfo && gai_conf_customised()) ||
      !resolver_settings()->glibc_only.empty() ||
      (std::strcmp(name, "localhost") == 0 && !hosts_answer)) {
    return counted(Route::helper);
  }
  return counted(hosts_answer ? Route::glibc : Route::cares);
}

// files_answer: glibc's "files" source (/etc/hosts) answers `lookup` (those lookups stay
// glibc's), called with a buffer large enough; errno is left alone.
template <typename Lookup>
bool files_answer(Lookup lookup) {
  const int saved_errno = errno;
  std::vector<char> buf(4096);
  hostent h{};
  int err = 0;
  int herr = 0;
  nss_status status;
  while ((status = lookup(&h, buf.data(), buf.size(), &err, &herr)) == NSS_STATUS_TRYAGAIN &&
         err == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  errno = saved_errno;
  return status == NSS_STATUS_SUCCESS;
}

bool files_have_name(const char* name, int af) {
  return files_answer(
      [&](auto... out) { return R()._nss_files_gethostbyname2_r(name, af, out...); });
}

// keeping_errno: what `call` returns, with errno as the caller had it unless that is EAI_SYSTEM.
template <typename Call>
int keeping_errno(Call call) {
  const int saved_errno = errno;
  const int rc = call();
  if (rc != EAI_SYSTEM) errno = saved_errno;
  return rc;
}

// address_of: the address in an AF_INET or AF_INET6 socket address.
const void* address_of(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) return &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr;
  return &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
}

// canonical_name follows the CNAME chain c-ares recorded from the name asked, stopping
// before a target that is not a host name, as glibc's nss_dns does.
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

// host_data_of: a forward lookup's hostent (the canonical name, the chain's other names as
// aliases, the addresses of family `af` in c-ares's order).
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

// pack_hostent lays a result out in the caller's buffer; false when it does not fit.
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

// getaddrinfo's text_to_binary_address: what it turns into an address without a lookup
// (c-ares 1.18.1 would send numeric IPv4 forms such as 127.1 to the server).
bool numeric_for_getaddrinfo(const char* name) {
  in_addr a{};
  in6_addr a6{};
  if (std::strpbrk(name, " \t\n\v\f\r") == nullptr && ::inet_aton(name, &a) != 0) return true;
  return ::inet_pton(AF_INET6, std::string(name, std::strcspn(name, "%")).c_str(), &a6) > 0;
}

// __nss_hostname_digits_dots: names gethostbyname* answer (or reject) without a lookup.
bool numeric_for_gethostbyname(const char* name) {
  const std::size_t n = std::strlen(name);
  if (n == 0 || name[n - 1] == '.') return false;
  return std::strspn(name, "0123456789.") == n ||
         (std::strchr(name, ':') != nullptr && std::strspn(name, "0123456789abcdefABCDEF:.") == n);
}

// AI_ADDRCONFIG as glibc decides it (its __check_pf): a numeric lookup with the flag fails
// when the family has no address other than loopback.
bool configured(int family) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_ADDRCONFIG;
  hints.ai_family = family;
  addrinfo* ai = nullptr;
  const int rc = R().getaddrinfo(family == AF_INET ? "127.0.0.1" : "::1", nullptr, &hints, &ai);
  if (rc == 0) R().freeaddrinfo(ai);
  return rc == 0;
}

// herrno_of: the h_errno for a c-ares status. A bad name and other failures are NO_RECOVERY
// for res_query/res_search (`res`), "not found" and TRY_AGAIN for gethostbyname*_r.
int herrno_of(int status, bool res) {
  switch (status) {
    case ARES_SUCCESS: return 0;
    case ARES_ECANCELLED: return NETDB_INTERNAL;  // errno says why
    case ARES_ENOTFOUND: return HOST_NOT_FOUND;
    case ARES_ENODATA: return NO_DATA;
    case ARES_EBADNAME: return res ? NO_RECOVERY : HOST_NOT_FOUND;
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
    case ARES_ESERVFAIL: return TRY_AGAIN;
    default: return res ? NO_RECOVERY : TRY_AGAIN;
  }
}

// The _r functions' conventions for what c-ares found: a name that is not there is rc 0
// with h_errno set; a server that cannot answer is EAGAIN/TRY_AGAIN; a wait ended early is
// NETDB_INTERNAL with errno ECANCELED/ETIMEDOUT.
HostCall host_call_of(int status) {
  HostCall c{0, herrno_of(status, false), 0, status == ARES_SUCCESS, {}};
  if (c.herrno == TRY_AGAIN) c.rc = c.err = EAGAIN;
  if (c.herrno == NETDB_INTERNAL) c.rc = c.err = errno;
  return c;
}

HostCall cares_gethostbyname(const char* name, int af) {
  if (name[0] == '\0' || !res_hnok(name)) {  // glibc rejects these without a query
    return HostCall{0, name[0] == '\0' ? NO_RECOVERY : HOST_NOT_FOUND, 0, false, {}};
  }
  AresAddrinfo ai(nullptr, ares_freeaddrinfo);
  HostCall c = host_call_of(resolve_name(name, af, /*sort=*/false, &ai));
  if (c.found) c.data = host_data_of(ai.get(), af);
  return c;
}

HostCall cares_gethostbyaddr(const void* addr, socklen_t len, int af) {
  // A v4-mapped address is looked up, and answered, as IPv4 (glibc's nss_dns unmaps it).
  if (af == AF_INET6 && IN6_IS_ADDR_V4MAPPED(static_cast<const in6_addr*>(addr))) {
    return cares_gethostbyaddr(static_cast<const char*>(addr) + 12, 4, AF_INET);
  }
  HostData d;
  HostCall c = host_call_of(resolve_address(addr, static_cast<int>(len), af, &d));
  if (c.herrno == TRY_AGAIN) c.rc = c.err = 0;  // gethostbyaddr_r returns 0 where 2_r says EAGAIN
  c.data = std::move(d);
  return c;
}

// copy_out gives a HostCall the _r functions' shape: *result, *h_errnop, errno, the return.
int copy_out(const HostCall& c, hostent* ret, char* buf, std::size_t buflen, hostent** result,
             int* h_errnop) {
  *result = nullptr;
  *h_errnop = c.herrno;
  errno = c.err;
  if (!c.found) return c.rc;
  if (!pack_hostent(c.data, ret, buf, buflen)) {
    *h_errnop = NETDB_INTERNAL;
    return errno = ERANGE;
  }
  *result = ret;
  return c.rc;
}

int gethostbyname_any_r(const char* name, int af, bool v2, hostent* ret, char* buf,
                        std::size_t buflen, hostent** result, int* h_errnop) {
  const bool direct = !co::hooks_active() || name == nullptr || (af != AF_INET && af != AF_INET6) ||
                      numeric_for_gethostbyname(name);
  const auto in_hosts = [&] { return files_have_name(name, af); };
  const Route r = direct ? counted(Route::glibc) : route(false, in_hosts, name);
  const auto glibc = [af, v2](const char* n, auto... out) {
    return v2 ? R().gethostbyname2_r(n, af, out...) : R().gethostbyname_r(n, out...);
  };
  if (r == Route::glibc) return glibc(name, ret, buf, buflen, result, h_errnop);
  const auto on_helper = [glibc, n = std::string(name)](auto... out) {  // owns its copy
    return glibc(n.c_str(), out...);
  };
  const HostCall c = r == Route::helper ? hostent_call_on_helper(buflen, *h_errnop, on_helper)
                                        : cares_gethostbyname(name, af);
  return copy_out(c, ret, buf, buflen, result, h_errnop);
}

int gethostbyaddr_any_r(const void* addr, socklen_t len, int af, hostent* ret, char* buf,
                        std::size_t buflen, hostent** result, int* h_errnop) {
  const bool direct = !co::hooks_active() || addr == nullptr ||
                      !((af == AF_INET && len == 4) || (af == AF_INET6 && len == 16));
  const auto in_hosts = [&] {
    return files_answer(
        [&](auto... out) { return R()._nss_files_gethostbyaddr_r(addr, len, af, out...); });
  };
  const Route r = direct ? counted(Route::glibc) : route(false, in_hosts);
  if (r == Route::glibc)
    return R().gethostbyaddr_r(addr, len, af, ret, buf, buflen, result, h_errnop);
  const auto glibc = [a = std::string(static_cast<const char*>(addr), len), af](auto... out) {
    return R().gethostbyaddr_r(a.data(), static_cast<socklen_t>(a.size()), af, out...);
  };
  const HostCall c = r == Route::helper ? hostent_call_on_helper(buflen, *h_errnop, glibc)
                                        : cares_gethostbyaddr(addr, len, af);
  return copy_out(c, ret, buf, buflen, result, h_errnop);
}

// gethostbyname / gethostbyname2 / gethostbyaddr: storage private to each coroutine.
struct HostentStorage {
  hostent he{};
  std::vector<char> buf = std::vector<char>(1024);
};

template <typename CallR>
hostent* with_own_storage(CallR call_r) {
  static co::Local<HostentStorage> storage;
  HostentStorage& s = storage.get();
  hostent* result = nullptr;
  int herr = 0;
  while (call_r(&s.he, s.buf.data(), s.buf.size(), &result, &herr) == ERANGE &&
         herr == NETDB_INTERNAL) {
    s.buf.resize(s.buf.size() * 2);
  }
  if (herr != 0) h_errno = herr;
  return result;
}

int eai_of(int status) {
  switch (status) {
    case ARES_SUCCESS: return 0;
    case ARES_ECANCELLED: return EAI_SYSTEM;  // errno says why
    case ARES_ENOTFOUND:
    case ARES_EBADNAME: return EAI_NONAME;
    case ARES_ENODATA: return EAI_NODATA;
    case ARES_ENOMEM: return EAI_MEMORY;
    default: return EAI_AGAIN;  // timeouts, refusals, SERVFAIL, no usable configuration
  }
}

// glibc builds the entries: a numeric getaddrinfo per address c-ares found, with the
// caller's service and socket type, so ports, socket types and the layout are glibc's (and
// glibc's freeaddrinfo frees the list). A probe with the same hints first gives the errors
// glibc reports before any lookup (service, socket type).
int cares_getaddrinfo(const char* node, const char* service, const addrinfo* hints, int flags,
                      int family, addrinfo** pai) {
  if (flags & AI_ADDRCONFIG) {  // 1.18.1 ignores it
    const bool v4 = configured(AF_INET), v6 = configured(AF_INET6);
    if (family == AF_UNSPEC && v4 != v6) family = v4 ? AF_INET : AF_INET6;
    if ((family == AF_INET && !v4) || (family == AF_INET6 && !v6)) return EAI_NONAME;
  }
  addrinfo numeric{};
  numeric.ai_flags = AI_NUMERICHOST | (flags & AI_NUMERICSERV);
  numeric.ai_family = family == AF_INET6 ? AF_INET6 : AF_INET;
  numeric.ai_socktype = hints != nullptr ? hints->ai_socktype : 0;
  numeric.ai_protocol = hints != nullptr ? hints->ai_protocol : 0;
  int rc = R().getaddrinfo(family == AF_INET6 ? "::" : "0.0.0.0", service, &numeric, pai);
  if (rc == 0) R().freeaddrinfo(*pai);
  *pai = nullptr;
  // glibc sends nothing for names that are not host names (for one family with AI_CANONNAME
  // it asks gethostbyname3_r, which does)
  if (rc == 0 && (!(flags & AI_CANONNAME) || family == AF_UNSPEC) && !res_hnok(node)) {
    return EAI_NONAME;
  }
  // AI_V4MAPPED and AI_ALL (1.18.1 ignores them): AF_INET6 asks for AAAA, then for A (mapped)
  // when there was no IPv6 address; with AI_ALL for both at once.
  const bool mapped = family == AF_INET6 && (flags & AI_V4MAPPED);
  const bool all = mapped && (flags & AI_ALL);
  AresAddrinfo ai(nullptr, ares_freeaddrinfo);
  if (rc == 0) {
    int status = resolve_name(node, all ? AF_UNSPEC : family, /*sort=*/true, &ai);
    if (mapped && !all && (status == ARES_ENODATA || status == ARES_ENOTFOUND)) {
      status = resolve_name(node, AF_INET, /*sort=*/true, &ai);
    }
    rc = eai_of(status);
  }
  addrinfo** tail = pai;
  for (const ares_addrinfo_node* n = rc == 0 ? ai->nodes : nullptr; n != nullptr; n = n->ai_next) {
    char text[INET6_ADDRSTRLEN + 8] = "::ffff:";
    const bool to_map = mapped && n->ai_family == AF_INET;
    ::inet_ntop(n->ai_family, address_of(n->ai_addr), text + (to_map ? 7 : 0), INET6_ADDRSTRLEN);
    numeric.ai_family = mapped ? AF_INET6 : n->ai_family;
    if ((rc = R().getaddrinfo(text, service, &numeric, tail)) != 0) break;
    for (; *tail != nullptr; tail = &(*tail)->ai_next) (*tail)->ai_flags = flags;
  }
  if (rc == 0 && *pai != nullptr && (flags & AI_CANONNAME)) {
    (*pai)->ai_canonname = ::strdup(canonical_name(ai.get()).c_str());
    if ((*pai)->ai_canonname == nullptr) rc = EAI_MEMORY;
  }
  if (rc == 0 && *pai == nullptr) rc = EAI_NONAME;
  if (rc != 0 && *pai != nullptr) R().freeaddrinfo(std::exchange(*pai, nullptr));
  return rc;
}

// res_query / res_search: always c-ares in a coroutine (nsswitch does not apply to them).
int res_any(bool search, const char* name, int dns_class, int type, unsigned char* answer,
            int anslen) {
  if (!co::hooks_active() || name == nullptr || answer == nullptr || anslen < 0) {
    counted(Route::glibc);
    return (search ? R().res_search : R().res_query)(name, dns_class, type, answer, anslen);
  }
  counted(Route::cares);
  std::vector<unsigned char> packet;
  const int status = query(name, dns_class, type, search, &packet);
  std::copy_n(packet.begin(), std::min(packet.size(), static_cast<std::size_t>(anslen)), answer);
  if (status == ARES_SUCCESS) return static_cast<int>(packet.size());  // may exceed anslen
  h_errno = herrno_of(status, true);
  return -1;
}

}  // namespace

Stats stats() {
  return Stats{g_routed[2].load(), g_routed[0].load(), g_routed[1].load(), packets_sent(),
               helper_queue_length()};
}

}  // namespace co::dns

using namespace co::dns;

extern "C" {

COFCGI_API int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** pai) {
  constexpr int kKnownFlags = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_ADDRCONFIG |
                              AI_V4MAPPED | AI_NUMERICSERV | AI_ALL;
  constexpr int kIdnFlags = AI_IDN | AI_CANONIDN | 0x0100 | 0x0200;  // + deprecated IDN bits
  const int flags = hints != nullptr ? hints->ai_flags : (AI_V4MAPPED | AI_ADDRCONFIG);
  const int family = hints != nullptr ? hints->ai_family : AF_UNSPEC;
  const bool direct = !co::hooks_active() || node == nullptr || std::strcmp(node, "*") == 0 ||
                      (flags & ~(kKnownFlags | kIdnFlags)) != 0 ||
                      (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) ||
                      (flags & AI_NUMERICHOST) != 0 || numeric_for_getaddrinfo(node);
  const auto in_hosts = [&] {  // AF_INET6 with AI_V4MAPPED takes IPv4 lines too
    const bool v4 = family != AF_INET6 || (flags & AI_V4MAPPED);
    return (family != AF_INET && files_have_name(node, AF_INET6)) ||
           (v4 && files_have_name(node, AF_INET));
  };
  const Route r = direct                ? counted(Route::glibc)
                  : (flags & kIdnFlags) ? counted(Route::helper)
                                        : route(true, in_hosts, node);
  if (r == Route::glibc) return R().getaddrinfo(node, service, hints, pai);
  if (r == Route::helper) return getaddrinfo_on_helper(node, service, hints, pai);
  return keeping_errno([&] { return cares_getaddrinfo(node, service, hints, flags, family, pai); });
}

COFCGI_API hostent* gethostbyname(const char* name) {
  if (!co::hooks_active()) return R().gethostbyname(name);
  return with_own_storage(
      [name](auto... out) { return gethostbyname_any_r(name, AF_INET, false, out...); });
}

COFCGI_API hostent* gethostbyname2(const char* name, int af) {
  if (!co::hooks_active()) return R().gethostbyname2(name, af);
  return with_own_storage(
      [name, af](auto... out) { return gethostbyname_any_r(name, af, true, out...); });
}

COFCGI_API int gethostbyname_r(const char* name, hostent* ret, char* buf, size_t buflen,
                               hostent** result, int* h_errnop) {
  return gethostbyname_any_r(name, AF_INET, false, ret, buf, buflen, result, h_errnop);
}

COFCGI_API int gethostbyname2_r(const char* name, int af, hostent* ret, char* buf, size_t buflen,
                                hostent** result, int* h_errnop) {
  return gethostbyname_any_r(name, af, true, ret, buf, buflen, result, h_errnop);
}

COFCGI_API hostent* gethostbyaddr(const void* addr, socklen_t len, int af) {
  if (!co::hooks_active()) return R().gethostbyaddr(addr, len, af);
  return with_own_storage([=](auto... out) { return gethostbyaddr_any_r(addr, len, af, out...); });
}

COFCGI_API int gethostbyaddr_r(const void* addr, socklen_t len, int af, hostent* ret, char* buf,
                               size_t buflen, hostent** result, int* h_errnop) {
  return gethostbyaddr_any_r(addr, len, af, ret, buf, buflen, result, h_errnop);
}

// getnameinfo: the host part as glibc's own getnameinfo gets it, from gethostbyaddr_r (ours,
// so it parks and routes), the service part and the numeric form from glibc.
COFCGI_API int getnameinfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                           char* serv, socklen_t servlen, int flags) {
  constexpr int kKnown = NI_NUMERICHOST | NI_NUMERICSERV | NI_NOFQDN | NI_NAMEREQD | NI_DGRAM;
  const bool v4 = sa != nullptr && sa->sa_family == AF_INET && salen >= sizeof(sockaddr_in);
  const bool v6 = sa != nullptr && sa->sa_family == AF_INET6 && salen >= sizeof(sockaddr_in6);
  if (!co::hooks_active() || host == nullptr || hostlen == 0 || (flags & NI_NUMERICHOST) ||
      !(v4 || v6) || (flags & ~(kKnown | NI_IDN)) != 0) {
    counted(Route::glibc);
    return R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  }
  if (flags & (NI_NOFQDN | NI_IDN)) {
    counted(Route::helper);
    return getnameinfo_on_helper(sa, salen, host, hostlen, serv, servlen, flags);
  }
  return keeping_errno([&] {
    hostent he{};
    std::vector<char> buf(2048);
    hostent* h = nullptr;
    int herr = 0;
    gethostbyaddr_any_r(address_of(sa), v4 ? 4 : 16, v4 ? AF_INET : AF_INET6, &he, buf.data(),
                        buf.size(), &h, &herr);
    if (h != nullptr) {
      if (std::strlen(h->h_name) + 1 > hostlen) return EAI_OVERFLOW;
      std::strcpy(host, h->h_name);
      if (serv == nullptr || servlen == 0) return 0;
      host = nullptr;  // the service part only
      hostlen = 0;
    } else if (herr == NETDB_INTERNAL || herr == TRY_AGAIN) {
      return herr == NETDB_INTERNAL ? EAI_SYSTEM : EAI_AGAIN;
    } else if (flags & NI_NAMEREQD) {
      return EAI_NONAME;
    }
    return R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags | NI_NUMERICHOST);
  });
}

COFCGI_API int res_query(const char* name, int dns_class, int type, unsigned char* answer,
                         int anslen) __THROW {
  return res_any(false, name, dns_class, type, answer, anslen);
}

COFCGI_API int res_search(const char* name, int dns_class, int type, unsigned char* answer,
                          int anslen) __THROW {
  return res_any(true, name, dns_class, type, answer, anslen);
}

}  // extern "C"
