// The interposed resolver functions. Each one first decides who answers:
//
//   - outside a coroutine with hooks on: glibc, untouched;
//   - nothing to resolve over the network (numeric host, NULL host, a name or address
//     /etc/hosts has, invalid arguments): glibc, in the coroutine (it reads files only);
//   - a configuration this code does not reproduce (an nsswitch hosts line other than
//     "files dns", "files" or "dns"; resolv.conf sortlist or "options inet6"; gai.conf
//     settings for getaddrinfo; IDN flags; NI_NOFQDN): glibc on a helper thread, the
//     coroutine parked until it is done;
//   - otherwise glibc's "dns" source re-implemented over c-ares (nss_dns.cpp), with
//     getaddrinfo's own processing (services, families, AI_* flags, sorting) around it.
//
// Results are glibc-shaped: getaddrinfo allocates every node as glibc does (one malloc
// holding the addrinfo and its sockaddr, ai_canonname a separate string on the first node),
// so glibc's freeaddrinfo frees them and is not interposed; gethostbyname and
// gethostbyname2 return storage private to the calling coroutine.
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cares_channel.h"
#include "cofcgi/adapters/dns.h"
#include "cofcgi/runtime/local.h"
#include "cofcgi/runtime/netpoll.h"
#include "gai_sort.h"
#include "helper_thread.h"
#include "nss_dns.h"
#include "real_netdb.h"
#include "resolver_config.h"

namespace co::dns {
namespace {

std::atomic<std::uint64_t> g_cares{0};
std::atomic<std::uint64_t> g_glibc{0};
std::atomic<std::uint64_t> g_helper{0};

const real::Functions& R() { return real::get(); }

// Keeps errno as the caller had it unless told otherwise.
class ErrnoKeeper {
 public:
  ErrnoKeeper() : saved_(errno) {}
  ~ErrnoKeeper() { errno = keep_ ? value_ : saved_; }
  void set(int value) {
    keep_ = true;
    value_ = value;
  }

 private:
  int saved_;
  bool keep_ = false;
  int value_ = 0;
};

bool inet_aton_exact(const char* s) {
  if (std::strpbrk(s, " \t\n\v\f\r") != nullptr) return false;
  in_addr a{};
  return ::inet_aton(s, &a) != 0;
}

// getaddrinfo's text_to_binary_address: what it turns into an address without a lookup.
bool numeric_for_getaddrinfo(const char* name) {
  if (inet_aton_exact(name)) return true;
  const char* pct = std::strchr(name, '%');
  const std::string host = pct != nullptr ? std::string(name, pct) : std::string(name);
  in6_addr a6{};
  return ::inet_pton(AF_INET6, host.c_str(), &a6) > 0;
}

// __nss_hostname_digits_dots: names gethostbyname* answer (or reject) without a lookup.
bool numeric_for_gethostbyname(const char* name) {
  const auto uc = [](char c) { return static_cast<unsigned char>(c); };
  if (!(std::isdigit(uc(name[0])) || std::isxdigit(uc(name[0])) || name[0] == ':')) return false;
  const std::size_t n = std::strlen(name);
  bool all_digits_dots = true;
  for (const char* p = name; *p; ++p) {
    if (!std::isdigit(uc(*p)) && *p != '.') {
      all_digits_dots = false;
      break;
    }
  }
  if (all_digits_dots) return name[n - 1] != '.';
  if ((std::isxdigit(uc(name[0])) && std::strchr(name, ':') != nullptr) || name[0] == ':') {
    for (const char* p = name; *p; ++p) {
      if (!std::isxdigit(uc(*p)) && *p != ':' && *p != '.') return false;
    }
    return name[n - 1] != '.';
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// hostent results

struct HostData {
  std::string name;
  std::vector<std::string> aliases;
  std::vector<Address> addresses;
  int af = AF_INET;
};

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

// pack_hostent lays a result out in the caller's buffer; false when it does not fit.
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
  for (std::size_t i = 0; i < d.addresses.size(); ++i) {
    std::memcpy(p, d.addresses[i].bytes.data(), len);
    addr_list[i] = p;
    p += len;
  }
  addr_list[d.addresses.size()] = nullptr;
  std::memcpy(p, d.name.c_str(), d.name.size() + 1);
  ret->h_name = p;
  p += d.name.size() + 1;
  for (std::size_t i = 0; i < d.aliases.size(); ++i) {
    std::memcpy(p, d.aliases[i].c_str(), d.aliases[i].size() + 1);
    alias_list[i] = p;
    p += d.aliases[i].size() + 1;
  }
  alias_list[d.aliases.size()] = nullptr;
  ret->h_aliases = alias_list;
  ret->h_addrtype = d.af;
  ret->h_length = static_cast<int>(len);
  ret->h_addr_list = addr_list;
  return true;
}

// The outcome of a gethostbyname2_r-style call, before it is copied out.
struct HostCall {
  int rc = 0;
  int herrno = 0;
  int err = 0;             // errno after the call
  int global_herrno = -1;  // the thread's h_errno as the lookup left it (-1: untouched)
  bool found = false;
  HostData data;
};

// The dns source behind gethostbyname2_r, with getXXbyYY_r's return conventions.
HostCall dns_gethostbyname2(const ResolvConf& conf, const char* name, int af) {
  const int olderr = errno;
  HostLookup h = dns_gethostbyname3(conf, name, af, /*check_name=*/true);
  HostCall c;
  c.global_herrno = h.global_herrno;
  c.herrno = h.status == NssStatus::success ? 0 : h.herrno;
  if (h.status == NssStatus::success) {
    c.found = true;
    c.data.name = std::move(h.name);
    c.data.aliases = std::move(h.aliases);
    c.data.addresses = std::move(h.addresses);
    c.data.af = af;
  }
  if (h.status == NssStatus::success || h.status == NssStatus::notfound) {
    c.rc = 0;
    c.err = 0;
  } else if (h.status == NssStatus::tryagain && c.herrno != NETDB_INTERNAL) {
    c.rc = EAGAIN;
    c.err = EAGAIN;
  } else {
    c.err = h.err != 0 ? h.err : olderr;
    c.rc = c.err;
  }
  return c;
}

bool hosts_file_answers_gethostbyname(const char* name, int af) {
  const std::uint8_t kinds = hosts_index()->kinds_of(name);
  return (kinds & (af == AF_INET ? (HostsIndex::kV4 | HostsIndex::kV6AsV4) : HostsIndex::kV6)) != 0;
}

enum class Route { glibc, helper, cares };

Route route_gethostbyname(const char* name, int af, std::shared_ptr<const ResolvConf>* conf) {
  if (name == nullptr || (af != AF_INET && af != AF_INET6) || numeric_for_gethostbyname(name)) {
    return Route::glibc;
  }
  const HostsSources sources = hosts_sources();
  if (sources == HostsSources::files_only) return Route::glibc;
  if (sources == HostsSources::other) return Route::helper;
  *conf = resolv_conf();
  if (!(*conf)->unsupported.empty()) return Route::helper;
  if (sources == HostsSources::files_then_dns && hosts_file_answers_gethostbyname(name, af)) {
    return Route::glibc;
  }
  return Route::cares;
}

// gethostbyname_r / gethostbyname2_r in a coroutine. `v2` picks which glibc function the
// glibc routes call.
int gethostbyname_any_r(const char* name, int af, bool v2, hostent* ret, char* buf,
                        std::size_t buflen, hostent** result, int* h_errnop) {
  std::shared_ptr<const ResolvConf> conf;
  const Route route = route_gethostbyname(name, af, &conf);
  if (route == Route::glibc) {
    g_glibc.fetch_add(1, std::memory_order_relaxed);
    return v2 ? R().gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop)
              : R().gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
  }
  HostCall c;
  if (route == Route::helper) {
    g_helper.fetch_add(1, std::memory_order_relaxed);
    auto call = std::make_shared<HostCall>();
    auto job_name = std::make_shared<std::string>(name);
    const bool ran = run_on_helper_thread([call, job_name, af, v2, buflen] {
      std::vector<char> tmp(buflen);
      hostent he{};
      hostent* res = nullptr;
      int herr = 0;
      call->rc =
          v2 ? R().gethostbyname2_r(job_name->c_str(), af, &he, tmp.data(), tmp.size(), &res, &herr)
             : R().gethostbyname_r(job_name->c_str(), &he, tmp.data(), tmp.size(), &res, &herr);
      call->err = errno;
      call->global_herrno = h_errno;  // thread-local: carried back to the caller's thread
      call->herrno = herr;
      call->found = res != nullptr;
      if (res != nullptr) call->data = host_data_of(res);
    });
    if (!ran) {  // the caller's wait was cancelled: errno says why
      *result = nullptr;
      *h_errnop = NETDB_INTERNAL;
      return errno;
    }
    c = std::move(*call);
  } else {
    g_cares.fetch_add(1, std::memory_order_relaxed);
    c = dns_gethostbyname2(*conf, name, af);
  }
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

// gethostbyname / gethostbyname2: storage private to each coroutine.
struct HostentStorage {
  hostent he{};
  std::vector<char> buf = std::vector<char>(1024);
};

co::Local<HostentStorage>& hostent_storage() {
  static co::Local<HostentStorage> storage;
  return storage;
}

hostent* gethostbyname_any(const char* name, int af, bool v2) {
  HostentStorage& s = hostent_storage().get();
  for (;;) {
    hostent* result = nullptr;
    int herr = 0;
    const int rc =
        gethostbyname_any_r(name, af, v2, &s.he, s.buf.data(), s.buf.size(), &result, &herr);
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

struct ServTuple {
  int socktype;
  int protocol;
  in_port_t port;  // network order
};

struct AddrTuple {
  int family;
  std::array<unsigned char, 16> bytes;
  std::uint32_t scopeid;
};

struct GaihResult {
  std::vector<AddrTuple> at;
  std::string canon;
  bool has_canon = false;
  bool got_ipv6 = false;
};

void add_tuple(GaihResult* res, const Address& a, int req_family) {
  AddrTuple t{};
  if (a.family == AF_INET && req_family == AF_INET6) {
    t.family = AF_INET6;  // v4-mapped
    t.bytes[10] = 0xff;
    t.bytes[11] = 0xff;
    std::memcpy(t.bytes.data() + 12, a.bytes.data(), 4);
  } else {
    t.family = a.family;
    t.bytes = a.bytes;
  }
  res->at.push_back(t);
}

// try_simple_gethostbyname: AF_INET without AI_CANONNAME goes through gethostbyname2_r.
int try_simple(const ResolvConf& conf, const char* name, const addrinfo& req, GaihResult* res) {
  HostCall c = dns_gethostbyname2(conf, name, AF_INET);
  h_errno = c.herrno;
  if (c.rc == 0) {
    if (c.found) {
      for (const Address& a : c.data.addresses) add_tuple(res, a, req.ai_family);
      return 0;
    }
    return c.herrno == NO_DATA ? EAI_NODATA : EAI_NONAME;
  }
  if (c.herrno == NETDB_INTERNAL) return EAI_SYSTEM;
  if (c.herrno == TRY_AGAIN) return EAI_AGAIN;
  return EAI_NODATA;
}

// get_nss_addresses with the dns source.
int dns_addresses(const ResolvConf& conf, const char* name, const addrinfo& req, GaihResult* res) {
  int no_data = 0;
  int no_inet6_data = 0;
  NssStatus status = NssStatus::unavail;
  NssStatus inet6_status = NssStatus::unavail;
  int last_herrno = 0;
  if (req.ai_family == AF_UNSPEC) {
    Host4Lookup r = dns_gethostbyname4(conf, name);
    status = r.status;
    last_herrno = r.herrno;
    if (status == NssStatus::success) {
      no_data = 1;
      if ((req.ai_flags & AI_CANONNAME) && !res->has_canon && !r.tuples.empty()) {
        res->canon = r.tuples[0].name;
        res->has_canon = true;
      }
      for (const AddressTuple& t : r.tuples) {
        add_tuple(res, t.address, AF_UNSPEC);
        no_data = 0;
      }
    } else {
      no_data = r.herrno == TRY_AGAIN ? EAI_AGAIN : (r.herrno == NO_DATA);
    }
    no_inet6_data = no_data;
  } else {
    const bool canon_wanted = (req.ai_flags & AI_CANONNAME) != 0;
    auto gethosts = [&](int af) {
      no_data = 0;
      // gethostbyname3_r when the canonical name is wanted (no host-name check), else 2_r.
      HostLookup h = dns_gethostbyname3(conf, name, af, /*check_name=*/!canon_wanted);
      status = h.status;
      last_herrno = h.herrno;
      if (h.status != NssStatus::success) {
        if (h.herrno == NETDB_INTERNAL) return false;
        no_data = h.herrno == TRY_AGAIN ? EAI_AGAIN : (h.herrno == NO_DATA);
        return true;
      }
      for (const Address& a : h.addresses) add_tuple(res, a, req.ai_family);
      if (af == AF_INET6 && !h.addresses.empty()) res->got_ipv6 = true;
      if (canon_wanted && !res->has_canon) {
        res->canon = h.name;
        res->has_canon = true;
      }
      return true;
    };
    if (req.ai_family == AF_INET6) {
      if (!gethosts(AF_INET6)) return EAI_SYSTEM;
      no_inet6_data = no_data;
      inet6_status = status;
    }
    if (req.ai_family == AF_INET || (req.ai_family == AF_INET6 && (req.ai_flags & AI_V4MAPPED) &&
                                     ((req.ai_flags & AI_ALL) || !res->got_ipv6))) {
      if (!gethosts(AF_INET)) return EAI_SYSTEM;
      if (req.ai_family == AF_INET) {
        no_inet6_data = no_data;
        inet6_status = status;
      }
    }
    if (inet6_status == NssStatus::success || status == NssStatus::success) {
      status = NssStatus::success;
    } else if (inet6_status == NssStatus::tryagain) {
      status = NssStatus::tryagain;
    } else if (status == NssStatus::unavail && inet6_status != NssStatus::unavail) {
      status = inet6_status;
    }
  }
  h_errno = last_herrno;
  if ((status == NssStatus::tryagain || status == NssStatus::unavail) &&
      last_herrno == NETDB_INTERNAL) {
    return EAI_SYSTEM;
  }
  if (no_data != 0 && no_inet6_data != 0) {
    return (no_data == EAI_AGAIN && no_inet6_data == EAI_AGAIN) ? EAI_AGAIN : EAI_NODATA;
  }
  return 0;
}

// generate_addrinfo: glibc's layout, so glibc's freeaddrinfo frees it.
int generate(const addrinfo& req, GaihResult* res, const std::vector<ServTuple>& st,
             addrinfo** head, unsigned* naddrs) {
  addrinfo** pai = head;
  char* canon = nullptr;
  if (req.ai_flags & AI_CANONNAME) {
    canon = ::strdup(res->canon.c_str());
    if (canon == nullptr) return EAI_MEMORY;
  }
  for (const AddrTuple& at : res->at) {
    socklen_t socklen;
    if (at.family == AF_INET6) {
      socklen = sizeof(sockaddr_in6);
      if (res->got_ipv6 && (req.ai_flags & (AI_V4MAPPED | AI_ALL)) == AI_V4MAPPED &&
          IN6_IS_ADDR_V4MAPPED(reinterpret_cast<const in6_addr*>(at.bytes.data()))) {
        continue;
      }
    } else {
      socklen = sizeof(sockaddr_in);
    }
    for (const ServTuple& s : st) {
      auto* ai = static_cast<addrinfo*>(::malloc(sizeof(addrinfo) + socklen));
      if (ai == nullptr) {
        ::free(canon);
        return EAI_MEMORY;
      }
      std::memset(ai, 0, sizeof(addrinfo) + socklen);
      ai->ai_flags = req.ai_flags;
      ai->ai_family = at.family;
      ai->ai_socktype = s.socktype;
      ai->ai_protocol = s.protocol;
      ai->ai_addrlen = socklen;
      ai->ai_addr = reinterpret_cast<sockaddr*>(ai + 1);
      ai->ai_canonname = canon;  // the first entry only
      canon = nullptr;
      ai->ai_next = nullptr;
      if (at.family == AF_INET6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(ai->ai_addr);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = s.port;
        std::memcpy(&sin6->sin6_addr, at.bytes.data(), 16);
        sin6->sin6_scope_id = at.scopeid;
      } else {
        auto* sin = reinterpret_cast<sockaddr_in*>(ai->ai_addr);
        sin->sin_family = AF_INET;
        sin->sin_port = s.port;
        std::memcpy(&sin->sin_addr, at.bytes.data(), 4);
      }
      *pai = ai;
      pai = &ai->ai_next;
    }
    ++*naddrs;
  }
  ::free(canon);  // no entry took it (every address filtered out)
  return 0;
}

bool hosts_file_answers_getaddrinfo(const char* name, const addrinfo& req) {
  const std::uint8_t kinds = hosts_index()->kinds_of(name);
  switch (req.ai_family) {
    case AF_INET: return (kinds & (HostsIndex::kV4 | HostsIndex::kV6AsV4)) != 0;
    case AF_INET6:
      if (kinds & HostsIndex::kV6) return true;
      return (req.ai_flags & AI_V4MAPPED) && (kinds & (HostsIndex::kV4 | HostsIndex::kV6AsV4));
    default: return kinds != 0;
  }
}

constexpr int kKnownFlags = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_ADDRCONFIG |
                            AI_V4MAPPED | AI_NUMERICSERV | AI_ALL;
constexpr int kIdnFlags = AI_IDN | AI_CANONIDN | 0x0100 | 0x0200;  // + the deprecated IDN bits

int getaddrinfo_helper(const char* node, const char* service, const addrinfo* hints,
                       addrinfo** res) {
  g_helper.fetch_add(1, std::memory_order_relaxed);
  struct Job {
    std::string node;
    bool has_service = false;
    std::string service;
    bool has_hints = false;
    addrinfo hints{};
    int rc = 0;
    int err = 0;
    int herrno = 0;
    addrinfo* res = nullptr;  // handed to the caller, or freed with the job (cancelled)
    ~Job() {
      if (res != nullptr) R().freeaddrinfo(res);
    }
  };
  auto job = std::make_shared<Job>();
  job->node = node;
  if (service != nullptr) {
    job->has_service = true;
    job->service = service;
  }
  if (hints != nullptr) {
    job->has_hints = true;
    job->hints.ai_flags = hints->ai_flags;
    job->hints.ai_family = hints->ai_family;
    job->hints.ai_socktype = hints->ai_socktype;
    job->hints.ai_protocol = hints->ai_protocol;
  }
  const bool ran = run_on_helper_thread([job] {
    job->rc = R().getaddrinfo(job->node.c_str(), job->has_service ? job->service.c_str() : nullptr,
                              job->has_hints ? &job->hints : nullptr, &job->res);
    job->err = errno;
    job->herrno = h_errno;
  });
  if (!ran) return EAI_SYSTEM;  // cancelled: errno says why; the job frees its result
  if (job->rc == 0) *res = std::exchange(job->res, nullptr);
  h_errno = job->herrno;  // thread-local on the helper thread: carried back
  if (job->rc == EAI_SYSTEM) errno = job->err;
  return job->rc;
}

int cares_getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                      const ResolvConf& conf, HostsSources sources, addrinfo** pai,
                      ErrnoKeeper* keep) {
  addrinfo req{};
  req.ai_flags = hints != nullptr ? hints->ai_flags : (AI_V4MAPPED | AI_ADDRCONFIG);
  req.ai_family = hints != nullptr ? hints->ai_family : AF_UNSPEC;
  req.ai_socktype = hints != nullptr ? hints->ai_socktype : 0;
  req.ai_protocol = hints != nullptr ? hints->ai_protocol : 0;

  InterfaceInfo pf;
  bool pf_known = false;
  if (req.ai_flags & AI_ADDRCONFIG) {
    pf = check_pf();
    pf_known = true;
    if (req.ai_family == AF_UNSPEC && (pf.seen_ipv4 || pf.seen_ipv6)) {
      if (pf.seen_ipv4 != pf.seen_ipv6) req.ai_family = pf.seen_ipv4 ? AF_INET : AF_INET6;
    } else if ((req.ai_family == AF_INET && !pf.seen_ipv4) ||
               (req.ai_family == AF_INET6 && !pf.seen_ipv6)) {
      g_glibc.fetch_add(1, std::memory_order_relaxed);  // decided without a lookup
      return EAI_NONAME;
    }
  }

  // Services, ports and socket types are glibc's: a numeric probe with the same hints gives
  // the (socktype, protocol, port) tuples, or the error glibc reports before any lookup.
  std::vector<ServTuple> st;
  {
    addrinfo probe_hints{};
    probe_hints.ai_flags = (req.ai_flags & AI_NUMERICSERV) | AI_NUMERICHOST;
    probe_hints.ai_family = req.ai_family == AF_INET6 ? AF_INET6 : AF_INET;
    probe_hints.ai_socktype = req.ai_socktype;
    probe_hints.ai_protocol = req.ai_protocol;
    addrinfo* probe = nullptr;
    const int rc = R().getaddrinfo(req.ai_family == AF_INET6 ? "::" : "0.0.0.0", service,
                                   &probe_hints, &probe);
    if (rc != 0) {
      g_glibc.fetch_add(1, std::memory_order_relaxed);  // glibc's own error, before any lookup
      if (rc == EAI_SYSTEM) keep->set(errno);
      return rc;
    }
    for (addrinfo* p = probe; p != nullptr; p = p->ai_next) {
      const in_port_t port = p->ai_family == AF_INET6
                                 ? reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_port
                                 : reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_port;
      st.push_back(ServTuple{p->ai_socktype, p->ai_protocol, port});
    }
    R().freeaddrinfo(probe);
  }

  if (sources == HostsSources::files_then_dns && hosts_file_answers_getaddrinfo(node, req)) {
    g_glibc.fetch_add(1, std::memory_order_relaxed);
    const int rc = R().getaddrinfo(node, service, hints, pai);
    if (rc == EAI_SYSTEM) keep->set(errno);
    return rc;
  }

  g_cares.fetch_add(1, std::memory_order_relaxed);
  GaihResult res;
  int rc;
  if (req.ai_family == AF_INET && !(req.ai_flags & AI_CANONNAME)) {
    rc = try_simple(conf, node, req, &res);
  } else {
    rc = dns_addresses(conf, node, req, &res);
  }
  if (rc != 0) {
    if (rc == EAI_SYSTEM) keep->set(errno);
    return rc;
  }
  if (res.at.empty()) return EAI_NONAME;
  if ((req.ai_flags & AI_CANONNAME) && !res.has_canon) {
    res.canon = node;
    res.has_canon = true;
  }
  addrinfo* head = nullptr;
  unsigned naddrs = 0;
  rc = generate(req, &res, st, &head, &naddrs);
  if (rc != 0) {
    R().freeaddrinfo(head);
    return rc;
  }
  if (head == nullptr) return EAI_NONAME;
  if (naddrs > 1) {
    int nresults = 0;
    for (addrinfo* p = head; p != nullptr; p = p->ai_next) ++nresults;
    head = sort_addrinfo(head, nresults, pf_known ? &pf : nullptr);
  }
  *pai = head;
  return 0;
}

int getaddrinfo_in_coroutine(const char* node, const char* service, const addrinfo* hints,
                             addrinfo** pai) {
  const int flags = hints != nullptr ? hints->ai_flags : (AI_V4MAPPED | AI_ADDRCONFIG);
  const int family = hints != nullptr ? hints->ai_family : AF_UNSPEC;
  const bool glibc_direct = node == nullptr || (node[0] == '*' && node[1] == '\0') ||
                            (flags & ~(kKnownFlags | kIdnFlags)) != 0 ||
                            (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) ||
                            (flags & AI_NUMERICHOST) != 0 || numeric_for_getaddrinfo(node);
  if (glibc_direct) {
    g_glibc.fetch_add(1, std::memory_order_relaxed);
    return R().getaddrinfo(node, service, hints, pai);
  }
  if (flags & kIdnFlags) return getaddrinfo_helper(node, service, hints, pai);
  const HostsSources sources = hosts_sources();
  if (sources == HostsSources::files_only) {
    g_glibc.fetch_add(1, std::memory_order_relaxed);
    return R().getaddrinfo(node, service, hints, pai);
  }
  if (sources == HostsSources::other || gai_conf_customised()) {
    return getaddrinfo_helper(node, service, hints, pai);
  }
  const std::shared_ptr<const ResolvConf> conf = resolv_conf();
  if (!conf->unsupported.empty()) return getaddrinfo_helper(node, service, hints, pai);
  ErrnoKeeper keep;
  return cares_getaddrinfo(node, service, hints, *conf, sources, pai, &keep);
}

// ---------------------------------------------------------------------------------------
// getnameinfo

constexpr int kKnownNiFlags = NI_NUMERICHOST | NI_NUMERICSERV | NI_NOFQDN | NI_NAMEREQD | NI_DGRAM;

int getnameinfo_helper(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                       char* serv, socklen_t servlen, int flags) {
  g_helper.fetch_add(1, std::memory_order_relaxed);
  struct Job {
    std::vector<char> sa;
    std::vector<char> host, serv;
    bool want_serv = false;
    int flags = 0;
    int rc = 0;
    int err = 0;
    int herrno = 0;
  };
  auto job = std::make_shared<Job>();
  job->sa.assign(reinterpret_cast<const char*>(sa), reinterpret_cast<const char*>(sa) + salen);
  job->host.resize(hostlen);
  job->want_serv = serv != nullptr;
  job->serv.resize(serv != nullptr ? servlen : 0);
  job->flags = flags;
  const bool ran = run_on_helper_thread([job] {
    job->rc = R().getnameinfo(reinterpret_cast<const sockaddr*>(job->sa.data()),
                              static_cast<socklen_t>(job->sa.size()), job->host.data(),
                              static_cast<socklen_t>(job->host.size()),
                              job->want_serv ? job->serv.data() : nullptr,
                              static_cast<socklen_t>(job->serv.size()), job->flags);
    job->err = errno;
    job->herrno = h_errno;
  });
  if (!ran) return EAI_SYSTEM;  // cancelled: errno says why
  h_errno = job->herrno;
  if (job->rc == 0 || job->rc == EAI_OVERFLOW) {
    std::memcpy(host, job->host.data(), hostlen);
    if (serv != nullptr && servlen > 0) std::memcpy(serv, job->serv.data(), servlen);
  }
  if (job->rc == EAI_SYSTEM) errno = job->err;
  return job->rc;
}

int getnameinfo_in_coroutine(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                             char* serv, socklen_t servlen, int flags) {
  const bool v4 = sa != nullptr && sa->sa_family == AF_INET && salen >= sizeof(sockaddr_in);
  const bool v6 = sa != nullptr && sa->sa_family == AF_INET6 && salen >= sizeof(sockaddr_in6);
  if (host == nullptr || hostlen == 0 || (flags & NI_NUMERICHOST) || !(v4 || v6) ||
      (flags & ~(kKnownNiFlags | NI_IDN)) != 0) {
    g_glibc.fetch_add(1, std::memory_order_relaxed);
    return R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  }
  if (flags & (NI_NOFQDN | NI_IDN)) {
    return getnameinfo_helper(sa, salen, host, hostlen, serv, servlen, flags);
  }
  const HostsSources sources = hosts_sources();
  if (sources == HostsSources::files_only) {
    g_glibc.fetch_add(1, std::memory_order_relaxed);
    return R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  }
  if (sources == HostsSources::other) {
    return getnameinfo_helper(sa, salen, host, hostlen, serv, servlen, flags);
  }
  const std::shared_ptr<const ResolvConf> conf = resolv_conf();
  if (!conf->unsupported.empty()) {
    return getnameinfo_helper(sa, salen, host, hostlen, serv, servlen, flags);
  }
  const void* addr =
      v4 ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr)
         : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  const int af = v4 ? AF_INET : AF_INET6;
  if (sources == HostsSources::files_then_dns && hosts_index()->has_address(af, addr)) {
    g_glibc.fetch_add(1, std::memory_order_relaxed);
    return R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  }
  g_cares.fetch_add(1, std::memory_order_relaxed);
  ErrnoKeeper keep;
  const PtrLookup p = dns_gethostbyaddr(*conf, addr, v4 ? 4 : 16, af);
  if (p.status == NssStatus::success) {
    if (p.name.size() + 1 > hostlen) return EAI_OVERFLOW;
    std::memcpy(host, p.name.c_str(), p.name.size() + 1);
    if (serv == nullptr || servlen == 0) return 0;
    const int rc = R().getnameinfo(sa, salen, nullptr, 0, serv, servlen, flags);
    if (rc == EAI_SYSTEM) keep.set(errno);
    return rc;
  }
  if (p.herrno == NETDB_INTERNAL) {
    h_errno = p.herrno;
    return EAI_SYSTEM;
  }
  if (p.herrno == TRY_AGAIN) {
    h_errno = p.herrno;
    return EAI_AGAIN;
  }
  if (flags & NI_NAMEREQD) return EAI_NONAME;
  // The numeric form (and the service) exactly as glibc writes them.
  const int rc = R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags | NI_NUMERICHOST);
  if (rc == EAI_SYSTEM) keep.set(errno);
  return rc;
}

}  // namespace

Stats stats() {
  Stats s;
  s.cares_lookups = g_cares.load(std::memory_order_relaxed);
  s.glibc_lookups = g_glibc.load(std::memory_order_relaxed);
  s.helper_thread_lookups = g_helper.load(std::memory_order_relaxed);
  s.queries_sent = queries_sent();
  return s;
}

void release_thread_resolver() { release_thread_channel(); }

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
  return gethostbyname_any(name, AF_INET, false);
}

COFCGI_NETDB_API hostent* gethostbyname2(const char* name, int af) {
  if (!co::hooks_active()) return R().gethostbyname2(name, af);
  return gethostbyname_any(name, af, true);
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

COFCGI_NETDB_API int getnameinfo(const sockaddr* __restrict sa, socklen_t salen,
                                 char* __restrict host, socklen_t hostlen, char* __restrict serv,
                                 socklen_t servlen, int flags) {
  if (!co::hooks_active()) return R().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  return getnameinfo_in_coroutine(sa, salen, host, hostlen, serv, servlen, flags);
}

}  // extern "C"
