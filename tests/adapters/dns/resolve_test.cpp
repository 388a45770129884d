// DNS through c-ares in coroutines, against the test responder (COFCGI_DNS_SERVERS and
// COFCGI_RESOLV_CONF point the resolver at it): answers and canonical names, the search
// list, every error glibc reports (with h_errno), dead and silent servers, storage private
// to each coroutine, getnameinfo's reverse lookups, configuration reloads, glibc's
// freeaddrinfo on our results, and nothing left behind.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "cofcgi/adapters/dns.h"
#include "cofcgi/runtime.h"
#include "dns_responder.h"
#include "dns_test_util.h"
#include "leak_check.h"

namespace {

using namespace std::chrono_literals;
using dns_test::in_coroutine;

std::string addr_of(const addrinfo* p) {
  char buf[INET6_ADDRSTRLEN];
  const void* a =
      p->ai_family == AF_INET
          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(p->ai_addr)->sin_addr)
          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(p->ai_addr)->sin6_addr);
  inet_ntop(p->ai_family, a, buf, sizeof buf);
  return buf;
}

struct Gai {
  int rc = 0;
  std::set<std::string> addrs;
  std::vector<int> families;
  std::string canon;
  int entries = 0;
};

Gai lookup(const char* name, int family, int flags = 0, int socktype = SOCK_STREAM,
           const char* service = "80") {
  Gai g;
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_flags = flags;
  hints.ai_socktype = socktype;
  addrinfo* res = nullptr;
  g.rc = ::getaddrinfo(name, service, &hints, &res);
  if (g.rc != 0) return g;
  for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
    g.addrs.insert(addr_of(p));
    g.families.push_back(p->ai_family);
    ++g.entries;
    if (p == res && p->ai_canonname != nullptr) g.canon = p->ai_canonname;
    if (p != res) CHECK(p->ai_canonname == nullptr);
  }
  ::freeaddrinfo(res);
  return g;
}

// A fixture: responder, resolver pointed at it, and a clean slate afterwards.
struct Setup {
  explicit Setup(std::chrono::milliseconds delay = 0ms,
                 const std::string& conf = "options timeout:2 attempts:2\n")
      : safe(dns_test::safe_to_resolve()),
        responder(dns_test::test_zone, delay),
        env(responder.endpoint(), conf) {
    REQUIRE(safe);
    REQUIRE(responder.ok());
  }
  ~Setup() { co::dns::release_thread_resolver(); }
  bool safe;  // first: the responder must bind inside the test's own network namespace
  dns_test::Responder responder;
  dns_test::ResolverEnv env;
};

}  // namespace

TEST_CASE("getaddrinfo: A and AAAA answers, each family, v4-mapped, canonical names") {
  Setup s;
  in_coroutine([] {
    Gai g = lookup("real.test", AF_UNSPEC);
    CHECK(g.rc == 0);
    CHECK(g.addrs == std::set<std::string>{"192.0.2.20", "2001:db8::20"});
    g = lookup("real.test", AF_INET);
    CHECK(g.addrs == std::set<std::string>{"192.0.2.20"});
    g = lookup("real.test", AF_INET6);
    CHECK(g.addrs == std::set<std::string>{"2001:db8::20"});
    g = lookup("multi.test", AF_UNSPEC, 0, 0, nullptr);  // every socket type: 3 per address
    CHECK(g.entries == 18);
    CHECK(g.addrs.size() == 6);
    g = lookup("v4only.test", AF_INET6);
    CHECK(g.rc == EAI_NODATA);
    g = lookup("v4only.test", AF_INET6, AI_V4MAPPED);
    CHECK(g.addrs == std::set<std::string>{"::ffff:192.0.2.10"});
    g = lookup("real.test", AF_INET6, AI_V4MAPPED | AI_ALL);
    CHECK(g.addrs == std::set<std::string>{"2001:db8::20", "::ffff:192.0.2.20"});
    g = lookup("alias.test", AF_UNSPEC, AI_CANONNAME);
    CHECK(g.canon == "real.test");
    g = lookup("chain.test", AF_INET, AI_CANONNAME, SOCK_DGRAM, "domain");
    CHECK(g.canon == "real.test");
    CHECK(g.addrs == std::set<std::string>{"192.0.2.20"});
    g = lookup("real.test", AF_UNSPEC, AI_CANONNAME);
    CHECK(g.canon == "real.test");
    g = lookup("MiXeD.test", AF_INET, AI_CANONNAME);
    CHECK(g.canon == "MiXeD.test");  // the owner name as the server wrote it
    // A CNAME target that is not a host name: c-ares rejects the whole response
    // (CVE-2021-3672) where glibc skips the record (README, "Where the answers differ").
    CHECK(lookup("badcname.test", AF_INET, AI_CANONNAME).rc == EAI_AGAIN);
  });
}

TEST_CASE("gethostbyname*: CNAME chains give the canonical name and the aliases") {
  Setup s;
  in_coroutine([] {
    hostent* h = ::gethostbyname("chain.test");
    REQUIRE(h != nullptr);
    CHECK(std::string(h->h_name) == "real.test");
    REQUIRE(h->h_aliases[0] != nullptr);
    CHECK(std::string(h->h_aliases[0]) == "chain.test");
    REQUIRE(h->h_aliases[1] != nullptr);
    CHECK(std::string(h->h_aliases[1]) == "c2.test");
    CHECK(h->h_aliases[2] == nullptr);
    CHECK(h->h_addrtype == AF_INET);
    CHECK(h->h_length == 4);
    h = ::gethostbyname2("v6only.test", AF_INET6);
    REQUIRE(h != nullptr);
    CHECK(dns_test::describe(h) ==
          "name=v6only.test; aliases=; type=10; len=16; addrs=2001:db8::10,");
  });
}

TEST_CASE("NXDOMAIN and NODATA: EAI_NONAME/EAI_NODATA, HOST_NOT_FOUND/NO_DATA") {
  Setup s;
  in_coroutine([] {
    CHECK(lookup("nx.test", AF_UNSPEC).rc == EAI_NONAME);
    CHECK(lookup("nx.test", AF_INET).rc == EAI_NONAME);
    CHECK(lookup("nodata.test", AF_UNSPEC).rc == EAI_NODATA);
    CHECK(lookup("nodata.test", AF_INET).rc == EAI_NODATA);
    // A CNAME and no address is "no data" to c-ares (glibc: EAI_NONAME; README).
    CHECK(lookup("cnameonly.test", AF_UNSPEC).rc == EAI_NODATA);

    h_errno = 0;
    CHECK(::gethostbyname("nx.test") == nullptr);
    CHECK(h_errno == HOST_NOT_FOUND);
    CHECK(::gethostbyname("nodata.test") == nullptr);
    CHECK(h_errno == NO_DATA);

    hostent he{};
    char buf[1024];
    hostent* result = &he;
    int herr = 0;
    errno = EINVAL;
    CHECK(::gethostbyname_r("nx.test", &he, buf, sizeof buf, &result, &herr) == 0);
    CHECK(result == nullptr);
    CHECK(herr == HOST_NOT_FOUND);
    CHECK(errno == 0);
    // An answer with a CNAME and no address: NO_DATA (glibc: EAGAIN with NO_RECOVERY).
    CHECK(::gethostbyname_r("cnameonly.test", &he, buf, sizeof buf, &result, &herr) == 0);
    CHECK(herr == NO_DATA);
  });
}

TEST_CASE("a dead server: EAI_AGAIN, TRY_AGAIN, gethostbyname_r returns EAGAIN") {
  REQUIRE(dns_test::safe_to_resolve());
  // A port nobody listens on: the kernel answers with "port unreachable".
  int probe = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(probe);
  dns_test::ResolverEnv env("127.0.0.1:" + std::to_string(ntohs(a.sin_port)),
                            "options timeout:1 attempts:2\n");
  const std::int64_t start = co::now_ns();
  in_coroutine([] {
    CHECK(lookup("real.test", AF_UNSPEC).rc == EAI_AGAIN);
    CHECK(lookup("real.test", AF_INET).rc == EAI_AGAIN);
    h_errno = 0;
    CHECK(::gethostbyname("real.test") == nullptr);
    CHECK(h_errno == TRY_AGAIN);
    hostent he{};
    char buf[1024];
    hostent* result = &he;
    int herr = 0;
    CHECK(::gethostbyname_r("real.test", &he, buf, sizeof buf, &result, &herr) == EAGAIN);
    CHECK(result == nullptr);
    CHECK(herr == TRY_AGAIN);
    CHECK(errno == EAGAIN);
    char host[64];
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.10", &sa.sin_addr);
    CHECK(::getnameinfo(reinterpret_cast<sockaddr*>(&sa), sizeof sa, host, sizeof host, nullptr, 0,
                        0) == EAI_AGAIN);
  });
  CHECK(dns_test::seconds_since(start) < 0.9);  // refused at once: no 1 s timeout
  co::dns::release_thread_resolver();
}

TEST_CASE("a silent server: EAI_AGAIN after the timeout, other coroutines running meanwhile") {
  Setup s(0ms, "options timeout:1 attempts:1\n");
  int ticks = 0;
  bool done = false;
  int rc = 0;
  double elapsed = 0;
  co::go([&] {
    const std::int64_t start = co::now_ns();
    rc = lookup("drop.test", AF_UNSPEC).rc;
    elapsed = dns_test::seconds_since(start);
    done = true;
  });
  co::go([&] {
    while (!done) {
      co::sleep_for(10ms);
      ++ticks;
    }
  });
  co::run();
  MESSAGE("silent server: EAI_AGAIN after " << elapsed << " s; ticker ran " << ticks << " times");
  CHECK(rc == EAI_AGAIN);
  CHECK(elapsed >= 0.9);
  CHECK(elapsed < 3.0);
  CHECK(ticks >= 20);  // ~100 on an idle machine: the thread was never blocked
}

TEST_CASE("the search list and ndots are glibc's") {
  Setup s(0ms, "search example.test\noptions ndots:1 timeout:1\n");
  in_coroutine([] {
    Gai g = lookup("short", AF_INET, AI_CANONNAME);
    CHECK(g.addrs == std::set<std::string>{"192.0.2.30"});
    CHECK(g.canon == "short.example.test");
    CHECK(lookup("bare", AF_INET).addrs == std::set<std::string>{"192.0.2.31"});
    CHECK(lookup("nx", AF_INET).rc == EAI_NONAME);
  });
  std::vector<std::string> asked;
  for (const auto& q : s.responder.questions())
    asked.push_back(q.name + "/" + std::to_string(q.type));
  // No dots: the search list first, then the name as it is.
  CHECK(asked == std::vector<std::string>{"short.example.test/1", "bare.example.test/1", "bare/1",
                                          "nx.example.test/1", "nx/1"});
}

TEST_CASE("gethostbyname storage belongs to the coroutine") {
  Setup s(50ms);
  std::string first, second;
  hostent* p1 = nullptr;
  hostent* p2 = nullptr;
  co::go([&] {
    p1 = ::gethostbyname("v4only.test");
    co::sleep_for(100ms);  // the other coroutine has made its call meanwhile
    first = dns_test::describe(p1);
  });
  co::go([&] {
    co::sleep_for(20ms);
    p2 = ::gethostbyname("real.test");
    second = dns_test::describe(p2);
  });
  co::run();
  CHECK(p1 != p2);
  CHECK(first == "name=v4only.test; aliases=; type=2; len=4; addrs=192.0.2.10,");
  CHECK(second == "name=real.test; aliases=; type=2; len=4; addrs=192.0.2.20,");
}

TEST_CASE("gethostbyname_r: a buffer too small gives ERANGE, a bigger one the answer") {
  Setup s;
  in_coroutine([] {
    hostent he{};
    std::vector<char> buf(16);
    hostent* result = &he;
    int herr = 0;
    CHECK(::gethostbyname_r("multi.test", &he, buf.data(), buf.size(), &result, &herr) == ERANGE);
    CHECK(result == nullptr);
    CHECK(herr == NETDB_INTERNAL);
    CHECK(errno == ERANGE);
    buf.resize(512);
    CHECK(::gethostbyname_r("multi.test", &he, buf.data(), buf.size(), &result, &herr) == 0);
    CHECK(result == &he);
    CHECK(dns_test::describe(result) ==
          "name=multi.test; aliases=; type=2; len=4; addrs=192.0.2.1,10.1.1.1,127.0.0.2,");
    CHECK(::gethostbyname2_r("multi.test", AF_INET6, &he, buf.data(), buf.size(), &result, &herr) ==
          0);
    CHECK(dns_test::describe(result) ==
          "name=multi.test; aliases=; type=10; len=16; addrs=2001:db8::1,fd00::1,::1,");
  });
}

TEST_CASE("getnameinfo: PTR names, NI_NAMEREQD, the numeric fallback, services") {
  Setup s;
  in_coroutine([] {
    auto gni = [](const char* addr, int flags, bool serv) {
      sockaddr_storage ss{};
      socklen_t len;
      if (std::string(addr).find(':') != std::string::npos) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(443);
        inet_pton(AF_INET6, addr, &s6->sin6_addr);
        len = sizeof *s6;
      } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(443);
        inet_pton(AF_INET, addr, &s4->sin_addr);
        len = sizeof *s4;
      }
      char host[NI_MAXHOST] = "";
      char sv[NI_MAXSERV] = "";
      const int rc = ::getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host,
                                   serv ? sv : nullptr, serv ? sizeof sv : 0, flags);
      return std::to_string(rc) + " " + host + (serv ? std::string(" ") + sv : "");
    };
    CHECK(gni("192.0.2.10", 0, true) == "0 v4only.test https");
    CHECK(gni("192.0.2.20", NI_NUMERICSERV, true) == "0 real.test 443");
    CHECK(gni("2001:db8::10", 0, false) == "0 v6only.test");
    CHECK(gni("::ffff:192.0.2.10", 0, false) == "0 v4only.test");
    CHECK(gni("192.0.2.99", 0, false) == "0 192.0.2.99");
    CHECK(gni("192.0.2.99", NI_NAMEREQD, false) == std::to_string(EAI_NONAME) + " ");
  });
}

TEST_CASE("results are glibc-shaped: glibc's freeaddrinfo frees them") {
  Setup s;
  in_coroutine([] {
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    addrinfo* res = nullptr;
    REQUIRE(::getaddrinfo("alias.test", "80", &hints, &res) == 0);
    int n = 0;
    for (addrinfo* p = res; p != nullptr; p = p->ai_next, ++n) {
      // One allocation per entry, the address right behind the addrinfo, as glibc does.
      CHECK(reinterpret_cast<char*>(p->ai_addr) == reinterpret_cast<char*>(p + 1));
      CHECK(p->ai_addrlen ==
            (p->ai_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)));
      CHECK((p->ai_canonname != nullptr) == (p == res));
    }
    CHECK(n == 6);                        // 2 addresses x (stream, dgram, raw)
    dns_test::glibc().freeaddrinfo(res);  // glibc's own: ASan/valgrind check the frees
  });
}

TEST_CASE("a changed resolv.conf is read again, as glibc does") {
  REQUIRE(dns_test::safe_to_resolve());
  dns_test::Responder first(dns_test::test_zone);
  dns_test::Responder second(dns_test::test_zone);
  REQUIRE((first.ok() && second.ok()));
  ::unsetenv("COFCGI_DNS_SERVERS");
  dns_test::TempFile conf("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1\n");
  ::setenv("COFCGI_RESOLV_CONF", conf.path().c_str(), 1);
  // resolv.conf cannot name a port: the override carries it, and a file change still counts.
  ::setenv("COFCGI_DNS_SERVERS", first.endpoint().c_str(), 1);
  in_coroutine([] { CHECK(lookup("real.test", AF_INET).rc == 0); });
  CHECK(first.question_count() == 1);
  ::setenv("COFCGI_DNS_SERVERS", second.endpoint().c_str(), 1);
  in_coroutine([] { CHECK(lookup("real.test", AF_INET).rc == 0); });
  CHECK(second.question_count() == 1);
  conf.rewrite("nameserver 127.0.0.1\nsearch example.test\noptions timeout:1\n");
  in_coroutine(
      [] { CHECK(lookup("short", AF_INET).addrs == std::set<std::string>{"192.0.2.30"}); });
  CHECK(second.question_count() == 2);
  ::unsetenv("COFCGI_RESOLV_CONF");
  ::unsetenv("COFCGI_DNS_SERVERS");
  co::dns::release_thread_resolver();
}

TEST_CASE("lookups leave nothing behind: no coroutine, timer or descriptor") {
  Setup s(30ms);
  {
    cofcgi_test::LeakCheck leaks;
    for (int i = 0; i < 20; ++i) {
      co::go([i] {
        const std::string name = "h" + std::to_string(i) + ".test";
        CHECK(lookup(name.c_str(), AF_UNSPEC).rc == 0);
      });
    }
    co::run();
    co::dns::release_thread_resolver();
  }
  const auto st = co::dns::stats();
  CHECK(st.cares_lookups > 0);
  CHECK(st.queries_sent > 0);
}
