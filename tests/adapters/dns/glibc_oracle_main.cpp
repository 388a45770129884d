// dns_glibc_oracle: glibc and the coroutine resolver side by side, configured the way a user
// configures a machine. The process enters a private mount namespace and a private network
// namespace (only a loopback interface: nothing can leave), bind-mounts its own
// /etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf and /etc/gai.conf, and runs the test
// responder on 127.0.0.1:53. Then every case is resolved twice -- by glibc (called outside a
// coroutine) and by this library (in a coroutine) -- and the results, error codes, h_errno,
// errno and the set of DNS questions sent must be identical.
//
// Exit status: 0 all equal, 1 differences (printed), 77 namespaces or port 53 unavailable.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <resolv.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cofcgi/adapters/dns.h"
#include "cofcgi/runtime.h"
#include "dns_responder.h"
#include "dns_test_util.h"

namespace {

using dns_test::describe;
using dns_test::glibc;

// The helper-thread pool's bounds (thirdparty_adapters/dns/README.md, "Who answers").
constexpr int kHelperThreadsMax = 8;
constexpr std::size_t kHelperQueueMax = 1024;

int g_cases = 0;

int thread_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}
int g_mismatches = 0;

void write_in_place(const std::string& path, const std::string& content) {
  // In place: the bind mount refers to this inode.
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

bool bind_over(const std::string& source, const char* target) {
  struct stat st {};
  if (::stat(target, &st) != 0) {
    // Nothing to cover: create an empty mount point is not possible on a read-only /etc; the
    // caller decides whether that matters.
    return false;
  }
  return ::mount(source.c_str(), target, "none", MS_BIND, nullptr) == 0;
}

bool loopback_up() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  if (ok) {
    ifr.ifr_flags |= IFF_UP;
    ok = ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  }
  ::close(fd);
  return ok;
}

std::string questions_of(dns_test::Responder& r) {
  std::set<std::string> s;
  for (const auto& q : r.questions()) s.insert(q.name + "/" + std::to_string(q.type));
  std::string out;
  for (const auto& q : s) out += q + " ";
  return out;
}

// subset: every question in `a` is also in `b` (questions_of's format).
bool subset(const std::string& a, const std::string& b) {
  std::istringstream words(a);
  for (std::string w; words >> w;) {
    if ((" " + b).find(" " + w + " ") == std::string::npos) return false;
  }
  return true;
}

void compare(const std::string& what, const std::string& theirs, const std::string& ours) {
  ++g_cases;
  if (theirs == ours) return;
  ++g_mismatches;
  std::printf("MISMATCH %s\n  glibc: %s\n  ours:  %s\n", what.c_str(), theirs.c_str(),
              ours.c_str());
}

// ---- where c-ares answers differently (thirdparty_adapters/dns/README.md, "Where the answers
// differ from glibc's"). Each entry is a name of the test zone and what ours must give for
// it instead of glibc's answer; every other result must equal glibc's.
struct KnownDifference {
  const char* name;
  const char* getaddrinfo;       // the whole result string
  const char* gethostbyname2_r;  // ghbn2_r's string
  const char* why;
};
const KnownDifference kKnown[] = {
    {"servfail.test", "rc=-3", "rc=11 h_errno=2 errno=11 (null)",
     "c-ares ends the search at a server failure (SERVFAIL); glibc tries the next candidate"},
    {"refused.test", "rc=-3", "rc=11 h_errno=2 errno=11 (null)",
     "c-ares ends the search at a server failure (REFUSED); glibc tries the next candidate"},
    {"drop.test", "rc=-3", "rc=11 h_errno=2 errno=11 (null)",
     "c-ares ends the search at a timeout; glibc tries the next candidate"},
    {"badcname.test", "rc=-3", "rc=11 h_errno=2 errno=11 (null)",
     "c-ares rejects a response with a name that is not a host name (CVE-2021-3672)"},
    {"cnameonly.test", "rc=-5", "rc=0 h_errno=4 errno=0 (null)",
     "a CNAME with no address is 'no data' to c-ares; glibc reports NO_RECOVERY"},
};

const KnownDifference* known(const char* name) {
  for (const KnownDifference& k : kKnown) {
    if (std::strcmp(k.name, name) == 0) return &k;
  }
  return nullptr;
}

int g_known = 0;  // results that took a documented difference

// compare_or_known: equal to glibc's, or to the documented answer when there is one.
void compare_or_known(const std::string& what, const std::string& theirs, const std::string& ours,
                      const char* expected_difference) {
  if (theirs != ours && expected_difference != nullptr && ours == expected_difference) {
    ++g_cases;
    ++g_known;
    return;
  }
  compare(what, theirs, ours);
}

// The RFC 6724 sort (c-ares) and glibc's RFC 3484 defaults order these names' addresses
// differently (ULA fd00::/7 below IPv4, ::1 and 127.0.0.0/8, ...): the same entries, possibly
// in another order.
bool same_entries(const std::string& a, const std::string& b) {
  auto lines = [](const std::string& text) {  // "rc=0 | entry\nentry\n..."
    std::multiset<std::string> out;
    std::size_t start = text.find(" | ") == std::string::npos ? 0 : text.find(" | ") + 3;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      out.insert(text.substr(start, nl - start));
    }
    out.insert(text.substr(start));
    return out;
  };
  // The canonical name is on the first entry, whichever that is.
  auto canon = [](std::string* text) {
    const std::size_t at = text->find(" canon=");
    if (at == std::string::npos) return std::string();
    const std::string name = text->substr(at, text->find('\n', at) - at);
    text->erase(at, name.size());
    return name;
  };
  std::string a2 = a, b2 = b;
  return canon(&a2) == canon(&b2) && lines(a2) == lines(b2);
}

bool reorder_expected(const char* name) {
  for (const char* n : {"multi.test", "h7.test"}) {
    if (std::strcmp(n, name) == 0) return true;
  }
  return false;
}

// ---- getaddrinfo

struct Hints {
  const char* label;
  bool null_hints;
  int flags;
  int family;
  int socktype;
  const char* service;
};

// errno after the call is reported in *err: it is compared separately (compare_gai).
std::string gai(int (*fn)(const char*, const char*, const addrinfo*, addrinfo**), const char* name,
                const Hints& h, int* err) {
  addrinfo hints{};
  hints.ai_flags = h.flags;
  hints.ai_family = h.family;
  hints.ai_socktype = h.socktype;
  addrinfo* res = nullptr;
  errno = 0;
  const int rc = fn(name, h.service, h.null_hints ? nullptr : &hints, &res);
  *err = errno;
  std::string out = "rc=" + std::to_string(rc);
  if (rc == EAI_SYSTEM) out += " errno=" + std::to_string(*err);
  if (rc == 0) {
    out += " | " + describe(res);
    glibc().freeaddrinfo(res);  // ours are laid out for glibc's freeaddrinfo
  }
  return out;
}

void compare_gai(dns_test::Responder& r, const char* name, const Hints& h) {
  r.clear();
  int theirs_err = 0;
  const std::string theirs = gai(glibc().getaddrinfo, name, h, &theirs_err);
  const std::string theirs_q = questions_of(r);
  r.clear();
  std::string ours;
  int ours_err = 0;
  dns_test::in_coroutine([&] { ours = gai(::getaddrinfo, name, h, &ours_err); });
  const std::string ours_q = questions_of(r);
  const std::string what = std::string("getaddrinfo(") + name + ", " + h.label + ")";
  const KnownDifference* k = known(name);
  if (theirs != ours && reorder_expected(name) && same_entries(theirs, ours)) {
    ++g_cases;
    ++g_known;  // the RFC 6724 order
  } else {
    compare_or_known(what, theirs, ours, k != nullptr ? k->getaddrinfo : nullptr);
  }
  // The search differs after failures (above), and AF_INET6 with AI_V4MAPPED|AI_ALL is one
  // A+AAAA lookup to c-ares where glibc searches AAAA first: ours must ask no more.
  if (k != nullptr) {
    compare_or_known(what + " questions", theirs_q, ours_q, ours_q.c_str());  // not compared
  } else if ((h.flags & (AI_V4MAPPED | AI_ALL)) == (AI_V4MAPPED | AI_ALL)) {
    compare_or_known(what + " questions", theirs_q, ours_q,
                     subset(ours_q, theirs_q) ? ours_q.c_str() : nullptr);
  } else {
    compare(what + " questions", theirs_q, ours_q);
  }
  // After a success glibc leaves in errno whatever its internals left there (often
  // ENETUNREACH from the sort's probes); ours must leave that or the caller's value, never
  // something of its own (the helper route once left EAGAIN).
  if (theirs.rfind("rc=0 ", 0) == 0 && ours_err != 0) {
    compare(what + " errno after success", std::to_string(theirs_err), std::to_string(ours_err));
  }
}

// ---- gethostbyname*

std::string ghbn2_r(int (*fn)(const char*, int, hostent*, char*, size_t, hostent**, int*),
                    const char* name, int af, std::size_t buflen) {
  hostent he{};
  std::vector<char> buf(buflen);
  hostent* result = nullptr;
  int herr = -1;
  errno = 12345;
  const int rc = fn(name, af, &he, buf.data(), buf.size(), &result, &herr);
  const int err = errno;
  return "rc=" + std::to_string(rc) + " h_errno=" + std::to_string(herr) +
         " errno=" + std::to_string(err) + " " + describe(result);
}

void compare_ghbn(dns_test::Responder& r, const char* name, int af) {
  r.clear();
  const std::string theirs = ghbn2_r(glibc().gethostbyname2_r, name, af, 4096);
  const std::string theirs_q = questions_of(r);
  r.clear();
  std::string ours;
  std::string ours_plain;
  dns_test::in_coroutine([&] {
    ours = ghbn2_r(::gethostbyname2_r, name, af, 4096);
    h_errno = -1;
    hostent* h = ::gethostbyname2(name, af);
    ours_plain = describe(h) + " h_errno=" + std::to_string(h_errno);
  });
  const std::string ours_q = questions_of(r);
  // glibc's gethostbyname2 (static storage), outside a coroutine, for the plain form.
  h_errno = -1;
  hostent* h = ::gethostbyname2(name, af);
  std::string theirs_plain = describe(h) + " h_errno=" + std::to_string(h_errno);
  const std::string what = std::string("gethostbyname2_r(") + name + ", " +
                           (af == AF_INET ? "AF_INET" : "AF_INET6") + ")";
  const KnownDifference* k = known(name);
  compare_or_known(what, theirs, ours, k != nullptr ? k->gethostbyname2_r : nullptr);
  if (k != nullptr) {
    compare_or_known(what + " questions", theirs_q, ours_q, ours_q.c_str());  // not compared
  } else {
    compare(what + " questions", theirs_q, ours_q);
  }
  // h_errno means something after a failure only: after a success glibc leaves what
  // res_search left there, ours leaves it alone.
  if (h != nullptr) {
    theirs_plain.resize(theirs_plain.find(" h_errno="));
    ours_plain.resize(ours_plain.find(" h_errno="));
  }
  std::string plain_known = "(null)";
  if (k != nullptr && h == nullptr) {
    plain_known += " h_errno=" + std::string(std::strstr(k->gethostbyname2_r, "h_errno=") + 8, 1);
  }
  compare_or_known(what + " plain", theirs_plain, ours_plain,
                   k != nullptr ? plain_known.c_str() : nullptr);
}

// ---- getnameinfo

std::string gni(int (*fn)(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int),
                const char* addr, int flags) {
  sockaddr_storage ss{};
  socklen_t len;
  if (std::strchr(addr, ':') != nullptr) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(80);
    inet_pton(AF_INET6, addr, &s6->sin6_addr);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(80);
    inet_pton(AF_INET, addr, &s4->sin_addr);
    len = sizeof *s4;
  }
  char host[NI_MAXHOST] = "";
  char serv[NI_MAXSERV] = "";
  const int rc =
      fn(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, serv, sizeof serv, flags);
  return "rc=" + std::to_string(rc) + " host=" + (rc == 0 ? host : "-") +
         " serv=" + (rc == 0 ? serv : "-");
}

void compare_gni(dns_test::Responder& r, const char* addr, int flags) {
  r.clear();
  const std::string theirs = gni(glibc().getnameinfo, addr, flags);
  const std::string theirs_q = questions_of(r);
  r.clear();
  std::string ours;
  dns_test::in_coroutine([&] { ours = gni(::getnameinfo, addr, flags); });
  const std::string ours_q = questions_of(r);
  const std::string what =
      std::string("getnameinfo(") + addr + ", flags=" + std::to_string(flags) + ")";
  compare(what, theirs, ours);
  compare(what + " questions", theirs_q, ours_q);
}

const Hints kHints[] = {
    {"UNSPEC stream 80", false, 0, AF_UNSPEC, SOCK_STREAM, "80"},
    {"UNSPEC any", false, 0, AF_UNSPEC, 0, nullptr},
    {"UNSPEC CANONNAME", false, AI_CANONNAME, AF_UNSPEC, SOCK_STREAM, "http"},
    {"INET", false, 0, AF_INET, SOCK_STREAM, "80"},
    {"INET CANONNAME", false, AI_CANONNAME, AF_INET, SOCK_DGRAM, "domain"},
    {"INET6", false, 0, AF_INET6, SOCK_STREAM, "80"},
    {"INET6 V4MAPPED", false, AI_V4MAPPED, AF_INET6, SOCK_STREAM, "80"},
    {"INET6 V4MAPPED|ALL", false, AI_V4MAPPED | AI_ALL, AF_INET6, SOCK_STREAM, "80"},
    {"INET6 CANONNAME", false, AI_CANONNAME, AF_INET6, SOCK_STREAM, "80"},
    {"NULL hints", true, 0, 0, 0, "80"},
    {"UNSPEC ADDRCONFIG", false, AI_ADDRCONFIG, AF_UNSPEC, SOCK_STREAM, "80"},
    {"INET ADDRCONFIG", false, AI_ADDRCONFIG, AF_INET, SOCK_STREAM, "80"},
};

const char* const kNames[] = {
    "real.test",
    "multi.test",
    "v4only.test",
    "v6only.test",
    "alias.test",
    "chain.test",
    "badcname.test",
    "cnameonly.test",
    "nodata.test",
    "nx.test",
    "servfail.test",
    "refused.test",
    "short",
    "bare",
    "bare.",
    "real.test.",
    "MiXeD.test",
    "hostsv4.test",
    "hv4alias",
    "hostsv6.test",
    "mappedline.test",
    "both.test",
    "localhost",
    "ip6-localhost",
    "h7.test",
    "short.example.test",
    "nx",
    // edges: empty name and labels, over-long, underscores, numeric-looking with a dot
    "",
    "a..b",
    ".",
    "x.",
    "_srv.test",
    "UPPER.TEST",
    "1.2.3.4.",
    "1.2.3",
    "::1.",
    "deadbeef",
    "0123456789012345678901234567890123456789012345678901234567890123.test",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s."
    "t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l."
    "m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.test",
};

void run_lookups(dns_test::Responder& r, bool all_hints) {
  for (const char* name : kNames) {
    for (const Hints& h : kHints) {
      if (!all_hints && std::strncmp(h.label, "UNSPEC", 6) != 0 &&
          std::strncmp(h.label, "INET ", 5) != 0 && std::strcmp(h.label, "NULL hints") != 0) {
        continue;
      }
      compare_gai(r, name, h);
    }
    compare_ghbn(r, name, AF_INET);
    compare_ghbn(r, name, AF_INET6);
  }
}

// ---- gethostbyaddr_r

std::string gha_r(int (*fn)(const void*, socklen_t, int, hostent*, char*, size_t, hostent**, int*),
                  const char* addr) {
  in6_addr a{};
  const int af = std::strchr(addr, ':') != nullptr ? AF_INET6 : AF_INET;
  inet_pton(af, addr, &a);
  hostent he{};
  std::vector<char> buf(4096);
  hostent* result = nullptr;
  int herr = -1;
  errno = 12345;
  const int rc = fn(&a, af == AF_INET ? 4 : 16, af, &he, buf.data(), buf.size(), &result, &herr);
  return "rc=" + std::to_string(rc) + " h_errno=" + std::to_string(herr) +
         " errno=" + std::to_string(errno) + " " + describe(result);
}

void compare_gha(dns_test::Responder& r, const char* addr) {
  r.clear();
  const std::string theirs = gha_r(glibc().gethostbyaddr_r, addr);
  const std::string theirs_q = questions_of(r);
  r.clear();
  std::string ours;
  dns_test::in_coroutine([&] { ours = gha_r(::gethostbyaddr_r, addr); });
  const std::string what = std::string("gethostbyaddr_r(") + addr + ")";
  compare(what, theirs, ours);
  compare(what + " questions", theirs_q, questions_of(r));
}

// ---- res_query / res_search: the return value, h_errno on failure, the answer's rcode and
// count of answers (the packets themselves differ in their ids)

std::string res(int (*fn)(const char*, int, int, unsigned char*, int), const char* name, int type) {
  unsigned char answer[1024];
  h_errno = -1;
  const int rc = fn(name, 1 /* C_IN */, type, answer, sizeof answer);
  if (rc < 0) return "rc=-1 h_errno=" + std::to_string(h_errno);
  return "rc=" + std::to_string(rc) + " rcode=" + std::to_string(answer[3] & 0xf) +
         " answers=" + std::to_string(answer[7]);
}

void compare_res(dns_test::Responder& r, const char* name, int type) {
  for (const bool search : {false, true}) {
    auto theirs_fn = search ? glibc().res_search : glibc().res_query;
    auto ours_fn = search ? ::res_search : ::res_query;
    r.clear();
    const std::string theirs = res(theirs_fn, name, type);
    const std::string theirs_q = questions_of(r);
    r.clear();
    std::string ours;
    dns_test::in_coroutine([&] { ours = res(ours_fn, name, type); });
    const std::string what = std::string(search ? "res_search(" : "res_query(") + name + ", " +
                             std::to_string(type) + ")";
    compare(what, theirs, ours);
    if (!search || known(name) == nullptr) compare(what + " questions", theirs_q, questions_of(r));
  }
}

void run_reverse(dns_test::Responder& r) {
  for (const char* addr : {"192.0.2.10", "192.0.2.20", "2001:db8::10", "::ffff:192.0.2.10",
                           "192.0.2.99", "192.0.2.50", "127.0.0.1", "::1", "2001:db8::50"}) {
    compare_gni(r, addr, 0);
    compare_gni(r, addr, NI_NAMEREQD);
    compare_gni(r, addr, NI_NUMERICSERV | NI_DGRAM);
    compare_gha(r, addr);
  }
}

}  // namespace

int main() {
  if (::unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) {
    std::printf("SKIP: unshare(CLONE_NEWNS|CLONE_NEWNET): %s\n", std::strerror(errno));
    return 77;
  }
  if (::mount("none", "/", "none", MS_REC | MS_PRIVATE, nullptr) != 0 || !loopback_up()) {
    std::printf("SKIP: private mounts / loopback: %s\n", std::strerror(errno));
    return 77;
  }
  for (const char* v :
       {"COFCGI_RESOLV_CONF", "COFCGI_DNS_SERVERS", "LOCALDOMAIN", "RES_OPTIONS", "HOSTALIASES"}) {
    ::unsetenv(v);
  }
  dns_test::TempFile resolv("resolv.conf", "");
  dns_test::TempFile hosts("hosts",
                           "127.0.0.1 localhost\n"
                           "::1 localhost ip6-localhost ip6-loopback\n"
                           "192.0.2.50 hostsv4.test hv4alias\n"
                           "2001:db8::50 hostsv6.test\n"
                           "::ffff:192.0.2.51 mappedline.test\n"
                           "192.0.2.52 both.test\n"
                           "2001:db8::52 both.test\n");
  dns_test::TempFile nsswitch("nsswitch.conf", "hosts: files dns\n");
  dns_test::TempFile gai_conf("gai.conf", "# defaults\n");
  const std::string good_conf =
      "nameserver 127.0.0.1\nsearch example.test\noptions ndots:1 timeout:1 attempts:2\n";
  write_in_place(resolv.path(), good_conf);
  if (!bind_over(resolv.path(), "/etc/resolv.conf") || !bind_over(hosts.path(), "/etc/hosts") ||
      !bind_over(nsswitch.path(), "/etc/nsswitch.conf")) {
    std::printf("SKIP: bind mounts over /etc: %s\n", std::strerror(errno));
    return 77;
  }
  (void)bind_over(gai_conf.path(), "/etc/gai.conf");  // absent: glibc's defaults anyway
  dns_test::Responder responder(dns_test::test_zone, std::chrono::milliseconds(0), "127.0.0.1", 53);
  if (!responder.ok()) {
    std::printf("SKIP: cannot bind 127.0.0.1:53: %s\n", std::strerror(errno));
    return 77;
  }

  std::printf("phase 1: loopback only\n");
  run_lookups(responder, true);
  run_reverse(responder);

  for (const char* name : {"real.test", "alias.test", "nx.test", "nodata.test", "servfail.test",
                           "refused.test", "short", "bare", "cnameonly.test"}) {
    compare_res(responder, name, 1);
    compare_res(responder, name, 28);
  }

  std::printf("phase 2: silent server (drop.test), timeout:1 attempts:2\n");
  for (const Hints& h : {kHints[0], kHints[3]}) compare_gai(responder, "drop.test", h);
  compare_ghbn(responder, "drop.test", AF_INET);

  std::printf("phase 3: dead server (nothing on 127.0.0.3:53)\n");
  write_in_place(resolv.path(), "nameserver 127.0.0.3\noptions timeout:1 attempts:2\n");
  for (const Hints& h : {kHints[0], kHints[3], kHints[5]}) compare_gai(responder, "real.test", h);
  compare_ghbn(responder, "real.test", AF_INET);
  compare_ghbn(responder, "real.test", AF_INET6);
  compare_gni(responder, "192.0.2.10", 0);
  compare_gni(responder, "192.0.2.10", NI_NAMEREQD);
  compare_gha(responder, "192.0.2.10");

  std::printf("phase 4: no search line, ndots:2, two servers (the first dead)\n");
  write_in_place(
      resolv.path(),
      "nameserver 127.0.0.3\nnameserver 127.0.0.1\noptions ndots:2 timeout:1 attempts:1\n");
  for (const char* name : {"real.test", "short", "bare", "nx.test"}) {
    compare_gai(responder, name, kHints[0]);
    compare_ghbn(responder, name, AF_INET);
  }

  std::printf("phase 5: other configurations\n");
  struct Variant {
    const char* label;
    const char* nsswitch;
    const char* resolv;
  };
  const Variant variants[] = {
      {"hosts: dns", "hosts: dns\n", nullptr},
      {"hosts: files", "hosts: files\n", nullptr},
      {"hosts: files [NOTFOUND=return] dns (glibc on a helper thread)",
       "hosts: files [NOTFOUND=return] dns\n", nullptr},
      {"hosts: dns files (glibc on a helper thread)", "hosts: dns files\n", nullptr},
      {"options no-aaaa", nullptr, "nameserver 127.0.0.1\noptions no-aaaa timeout:1\n"},
      {"search nx.test example.test, ndots:3", nullptr,
       "nameserver 127.0.0.1\nsearch nx.test example.test\noptions ndots:3 timeout:1\n"},
      {"domain example.test, no-tld-query", nullptr,
       "nameserver 127.0.0.1\ndomain example.test\noptions no-tld-query timeout:1\n"},
      {"sortlist (glibc on a helper thread)", nullptr,
       "nameserver 127.0.0.1\nsortlist 10.0.0.0/255.0.0.0\noptions timeout:1\n"},
  };
  for (const Variant& v : variants) {
    std::printf("  %s\n", v.label);
    write_in_place(nsswitch.path(), v.nsswitch ? v.nsswitch : "hosts: files dns\n");
    write_in_place(resolv.path(), v.resolv ? v.resolv : good_conf);
    for (const char* name : {"multi.test", "localhost", "hostsv4.test", "both.test", "nx.test",
                             "short", "bare", "v6only.test"}) {
      for (const Hints& h : {kHints[0], kHints[3], kHints[6], kHints[9]})
        compare_gai(responder, name, h);
      compare_ghbn(responder, name, AF_INET);
      compare_ghbn(responder, name, AF_INET6);
    }
    compare_gni(responder, "192.0.2.20", 0);
    compare_gni(responder, "192.0.2.50", 0);
    compare_gha(responder, "192.0.2.20");
  }
  write_in_place(nsswitch.path(), "hosts: files dns\n");
  write_in_place(resolv.path(), good_conf);

  std::printf(
      "phase 6: global addresses on lo (192.0.2.2/24, fd00::2/64): sorting, AI_ADDRCONFIG\n");
  write_in_place(resolv.path(), good_conf);
  if (std::system("ip addr add 192.0.2.2/24 dev lo && ip addr add fd00::2/64 dev lo nodad") == 0) {
    run_lookups(responder, false);
  } else {
    std::printf("  (ip addr add failed: phase skipped)\n");
  }

  std::printf("phase 7: the helper-thread route parks only the coroutine\n");
  {
    // "hosts: dns files" is glibc's on helper threads; 8 lookups against a 300 ms server
    // overlap: 8 (the pool's bound) take one round trip, not 8 x 300 ms = 2.4 s. The bound
    // is loose: the machine may be loaded.
    write_in_place(nsswitch.path(), "hosts: dns files\n");
    responder.set_delay(std::chrono::milliseconds(300));
    int right = 0;
    const std::int64_t start = co::now_ns();
    for (unsigned n = 300; n < 308; ++n) {
      co::go([&right, n] {
        const std::string name = "h" + std::to_string(n) + ".test";
        addrinfo hints{};
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        if (::getaddrinfo(name.c_str(), "80", &hints, &res) == 0) {
          char buf[INET_ADDRSTRLEN];
          inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf,
                    sizeof buf);
          if ("10.0.1." + std::to_string(n - 256) == buf) ++right;
          ::freeaddrinfo(res);
        }
      });
    }
    co::run();
    const double elapsed = dns_test::seconds_since(start);
    std::printf("  8 lookups on helper threads through a 300 ms server: %.3f s, %d right\n",
                elapsed, right);
    ++g_cases;
    if (right != 8 || elapsed > 1.8) {
      ++g_mismatches;
      std::printf("MISMATCH helper-thread route: %d right in %.3f s\n", right, elapsed);
    }
    responder.set_delay(std::chrono::milliseconds(0));
    write_in_place(nsswitch.path(), "hosts: files dns\n");
  }

  std::printf("phase 8: 200 lookups at once on the helper-thread route: a bounded pool\n");
  {
    write_in_place(nsswitch.path(), "hosts: dns files\n");
    responder.set_delay(std::chrono::milliseconds(50));
    // This process's own threads: the main thread and the responder's. Helper threads of
    // the earlier phases may still be idle: they count against the bound too.
    const int own_threads = 2;
    const int threads_before = thread_count();
    int max_threads = threads_before;
    int right = 0;
    int finished = 0;
    for (unsigned n = 400; n < 600; ++n) {
      co::go([&right, &finished, n] {
        const std::string name = "h" + std::to_string(n) + ".test";
        hostent* h = ::gethostbyname(name.c_str());
        char buf[INET_ADDRSTRLEN] = "";
        if (h != nullptr) inet_ntop(AF_INET, h->h_addr_list[0], buf, sizeof buf);
        if (dns_test::v4_of(n) == buf) ++right;
        ++finished;
      });
    }
    co::go([&] {  // samples the thread count while the lookups are in flight
      while (finished < 200) {
        max_threads = std::max(max_threads, thread_count());
        co::sleep_for(std::chrono::milliseconds(2));
      }
    });
    co::run();
    std::printf("  threads: %d before, at most %d during (pool bound %d), %d right\n",
                threads_before, max_threads, kHelperThreadsMax, right);
    ++g_cases;
    if (right != 200 || max_threads - own_threads > kHelperThreadsMax) {
      ++g_mismatches;
      std::printf("MISMATCH helper pool: %d right, %d helper threads at once\n", right,
                  max_threads - own_threads);
    }
    responder.set_delay(std::chrono::milliseconds(0));
    write_in_place(nsswitch.path(), "hosts: files dns\n");
  }

  std::printf("phase 9: a lookup on the helper route whose coroutine is cancelled\n");
  {
    // glibc cannot be stopped: the caller returns at once, the job finishes on its thread.
    write_in_place(nsswitch.path(), "hosts: dns files\n");
    responder.set_delay(std::chrono::milliseconds(1000));
    int rc = 0, err = 0;
    double after = 0;
    co::CancelHandle handle;
    co::go([&] {
      handle = co::CancelHandle::current();
      const std::int64_t start = co::now_ns();
      addrinfo* res = nullptr;
      rc = ::getaddrinfo("h700.test", "80", nullptr, &res);
      err = errno;
      after = dns_test::seconds_since(start);
      if (rc == 0) ::freeaddrinfo(res);
    });
    co::go([&] {
      co::sleep_for(std::chrono::milliseconds(100));
      handle.cancel();
    });
    co::run();
    std::printf("  cancelled after 100 ms: rc=%d errno=%d after %.3f s\n", rc, err, after);
    ++g_cases;
    if (rc != EAI_SYSTEM || err != ECANCELED || after > 0.9) {
      ++g_mismatches;
      std::printf("MISMATCH cancelled helper lookup: rc=%d errno=%d after %.3f s\n", rc, err,
                  after);
    }
    ::usleep(1200 * 1000);  // the abandoned glibc call ends before the responder goes
    responder.set_delay(std::chrono::milliseconds(0));
    write_in_place(nsswitch.path(), "hosts: files dns\n");
  }

  std::printf("phase 10: lookups that give up while the helpers are stalled leave nothing\n");
  {
    // The 8 helpers are held by a 1.5 s server; 300 more lookups each wait 20 ms and give
    // up. Their jobs must leave the queue with them (it would hold every abandoned job
    // until a helper came free); then, with the helpers still held, more lookups than the
    // queue's bound: the excess fails at once with EAI_AGAIN instead of piling up.
    write_in_place(nsswitch.path(), "hosts: dns files\n");
    responder.set_delay(std::chrono::milliseconds(1500));
    int held_done = 0, gave_up = 0, refused = 0, timed_out = 0;
    std::size_t queued_before = 0, queued_after_give_up = 0, queued_peak = 0;
    double slowest_refusal = 0;
    constexpr int kOver = 64;
    for (unsigned n = 800; n < 808; ++n) {
      co::go([&held_done, n] {
        hostent* h = ::gethostbyname(("h" + std::to_string(n) + ".test").c_str());
        (void)h;
        ++held_done;
      });
    }
    co::go([&] {
      co::sleep_for(std::chrono::milliseconds(100));  // the 8 are running (or queued)
      queued_before = co::dns::stats().helper_queue_length;
      co::WaitGroup wg;
      for (int i = 0; i < 300; ++i) {
        wg.add(1);
        co::go([&, i] {
          const co::DeadlineScope scope(std::chrono::milliseconds(20));
          addrinfo* res = nullptr;
          const std::string name = "g" + std::to_string(i) + ".test";
          if (::getaddrinfo(name.c_str(), "80", nullptr, &res) == EAI_SYSTEM && errno == ETIMEDOUT)
            ++gave_up;
          wg.done();
        });
      }
      wg.wait();
      queued_after_give_up = co::dns::stats().helper_queue_length;
      const int flood = static_cast<int>(kHelperQueueMax) + kOver;
      for (int i = 0; i < flood; ++i) {
        wg.add(1);
        co::go([&, i] {
          const co::DeadlineScope scope(std::chrono::milliseconds(300));
          const std::int64_t start = co::now_ns();
          addrinfo* res = nullptr;
          const std::string name = "f" + std::to_string(i) + ".test";
          const int rc = ::getaddrinfo(name.c_str(), "80", nullptr, &res);
          queued_peak = std::max(queued_peak, co::dns::stats().helper_queue_length);
          if (rc == EAI_AGAIN) {
            ++refused;
            slowest_refusal = std::max(slowest_refusal, dns_test::seconds_since(start));
          } else if (rc == EAI_SYSTEM && errno == ETIMEDOUT) {
            ++timed_out;
          }
          wg.done();
        });
      }
      wg.wait();
    });
    co::run();
    std::printf(
        "  300 gave up (%d): %zu jobs queued before, %zu after; %d more at once: %d refused "
        "(EAI_AGAIN, slowest %.3f s), %d timed out, queue at most %zu (bound %zu)\n",
        gave_up, queued_before, queued_after_give_up, static_cast<int>(kHelperQueueMax) + kOver,
        refused, slowest_refusal, timed_out, queued_peak, kHelperQueueMax);
    ++g_cases;
    if (gave_up != 300 || queued_after_give_up != queued_before || refused < kOver ||
        refused + timed_out != static_cast<int>(kHelperQueueMax) + kOver ||
        queued_peak > kHelperQueueMax || held_done != 8) {
      ++g_mismatches;
      std::printf("MISMATCH helper queue bound\n");
    }
    ::usleep(1700 * 1000);  // the held glibc calls end before the responder goes
    responder.set_delay(std::chrono::milliseconds(0));
    write_in_place(nsswitch.path(), "hosts: files dns\n");
  }

  std::printf(
      "compared %d results, %d differ (%d as documented: known differences, RFC 6724 order)\n",
      g_cases, g_mismatches, g_known);
  const auto s = co::dns::stats();
  std::printf(
      "ours: %llu via c-ares, %llu via glibc directly, %llu on a helper thread, %llu queries\n",
      static_cast<unsigned long long>(s.cares_lookups),
      static_cast<unsigned long long>(s.glibc_lookups),
      static_cast<unsigned long long>(s.helper_thread_lookups),
      static_cast<unsigned long long>(s.queries_sent));
  return g_mismatches == 0 ? 0 : 1;
}
