// Lookups that need no network -- numeric hosts, a NULL host, services and ports, names from
// /etc/hosts, invalid arguments -- made in a coroutine give exactly glibc's answers (glibc
// itself answers them) and send no query; calls outside coroutines, or with hooks off, are
// glibc's and are not even counted.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>

#include <string>
#include <vector>

#include "cofcgi/adapters/dns.h"
#include "cofcgi/runtime.h"
#include "dns_responder.h"
#include "dns_test_util.h"

namespace {

using dns_test::describe;
using dns_test::glibc;

struct GaiCase {
  const char* node;
  const char* service;
  int flags;
  int family;
  int socktype;
  int protocol;
  bool null_hints = false;
};

std::string gai_with(int (*gai)(const char*, const char*, const addrinfo*, addrinfo**),
                     void (*fai)(addrinfo*), const GaiCase& c) {
  addrinfo hints{};
  hints.ai_flags = c.flags;
  hints.ai_family = c.family;
  hints.ai_socktype = c.socktype;
  hints.ai_protocol = c.protocol;
  addrinfo* res = nullptr;
  const int rc = gai(c.node, c.service, c.null_hints ? nullptr : &hints, &res);
  std::string out = "rc=" + std::to_string(rc) + "\n";
  if (rc == 0) {
    out += describe(res);
    fai(res);
  }
  return out;
}

std::string label(const GaiCase& c) {
  return std::string("node=") + (c.node ? c.node : "NULL") +
         " service=" + (c.service ? c.service : "NULL") + " flags=" + std::to_string(c.flags) +
         " family=" + std::to_string(c.family) + " socktype=" + std::to_string(c.socktype) +
         " protocol=" + std::to_string(c.protocol) + (c.null_hints ? " (no hints)" : "");
}

const std::vector<GaiCase>& no_network_cases() {
  static const std::vector<GaiCase> cases = {
      // numeric hosts
      {"127.0.0.1", "80", 0, AF_UNSPEC, SOCK_STREAM, 0},
      {"127.0.0.1", nullptr, 0, AF_UNSPEC, 0, 0},
      {"127.1", "http", 0, AF_INET, 0, 0},
      {"0x7f.1", "80", AI_CANONNAME, AF_UNSPEC, SOCK_STREAM, 0},
      {"192.0.2.7", "80", 0, AF_INET6, SOCK_STREAM, 0},
      {"192.0.2.7", "80", AI_V4MAPPED, AF_INET6, SOCK_STREAM, 0},
      {"::1", "443", 0, AF_UNSPEC, 0, 0},
      {"::1", "443", 0, AF_INET, 0, 0},
      {"::ffff:192.0.2.7", "443", 0, AF_INET, SOCK_STREAM, 0},
      {"2001:db8::7", "domain", AI_CANONNAME, AF_INET6, SOCK_DGRAM, 0},
      {"fe80::1%lo", "80", 0, AF_INET6, SOCK_STREAM, 0},
      {"fe80::1%1", "80", 0, AF_UNSPEC, SOCK_STREAM, 0},
      {"fe80::1%no-such-interface", "80", 0, AF_UNSPEC, SOCK_STREAM, 0},
      {"2001:db8::1%7", nullptr, 0, AF_UNSPEC, 0, 0},
      {"localhost", "80", AI_NUMERICHOST, AF_UNSPEC, 0, 0},
      // NULL host: AI_PASSIVE and loopback, services and ports
      {nullptr, "80", AI_PASSIVE, AF_UNSPEC, SOCK_STREAM, 0},
      {nullptr, "http", AI_PASSIVE, AF_UNSPEC, 0, 0},
      {nullptr, "http", 0, AF_INET6, 0, 0},
      {nullptr, "domain", 0, AF_INET, SOCK_DGRAM, 0},
      {"*", "8080", AI_PASSIVE, AF_INET, 0, 0},
      {nullptr, "no-such-service", 0, AF_UNSPEC, 0, 0},
      {nullptr, "http", AI_NUMERICSERV, AF_UNSPEC, 0, 0},
      {nullptr, "65536", AI_NUMERICSERV, AF_UNSPEC, 0, 0},
      {nullptr, "80", 0, AF_UNSPEC, SOCK_RAW, 0},
      {nullptr, nullptr, 0, AF_UNSPEC, SOCK_RAW, 0},
      {nullptr, "80", 0, AF_UNSPEC, SOCK_STREAM, IPPROTO_UDP},
      {nullptr, "80", 0, AF_UNSPEC, 0, IPPROTO_SCTP},
      {nullptr, "80", 0, AF_UNSPEC, SOCK_SEQPACKET, 0},
      // invalid arguments
      {nullptr, nullptr, 0, AF_UNSPEC, 0, 0},
      {"127.0.0.1", "80", 0, AF_UNIX, 0, 0},
      {"127.0.0.1", "80", 0x10000, AF_UNSPEC, 0, 0},
      {nullptr, "80", AI_CANONNAME, AF_UNSPEC, 0, 0},
      {"localhost", "no-such-service", 0, AF_UNSPEC, 0, 0},
      // /etc/hosts (Debian has "127.0.0.1 localhost"): glibc's files source answers
      {"localhost", "80", 0, AF_UNSPEC, SOCK_STREAM, 0},
      {"localhost", nullptr, AI_CANONNAME, AF_UNSPEC, 0, 0},
      {"LocalHost", "http", 0, AF_INET, 0, 0},
      {"localhost", "80", AI_V4MAPPED, AF_INET6, SOCK_STREAM, 0},
      {"localhost", "80", AI_V4MAPPED | AI_ALL, AF_INET6, 0, 0},
      {"localhost", "80", AI_ADDRCONFIG, AF_UNSPEC, SOCK_STREAM, 0},
      {"localhost", "80", AI_ADDRCONFIG, AF_INET, SOCK_STREAM, 0},
      {"localhost", "80", 0, AF_UNSPEC, 0, 0, /*null_hints=*/true},
  };
  return cases;
}

}  // namespace

TEST_CASE("getaddrinfo in a coroutine: no-network lookups are glibc's, and send nothing") {
  dns_test::isolate_network();
  dns_test::Responder responder;
  REQUIRE(responder.ok());
  dns_test::ResolverEnv env(responder.endpoint(), "options timeout:1 attempts:1\n");
  const auto before = co::dns::stats();
  for (const GaiCase& c : no_network_cases()) {
    const std::string expected = gai_with(glibc().getaddrinfo, glibc().freeaddrinfo, c);
    std::string got;
    dns_test::in_coroutine([&] { got = gai_with(::getaddrinfo, ::freeaddrinfo, c); });
    INFO(label(c));
    CHECK(got == expected);
  }
  const auto after = co::dns::stats();
  CHECK(responder.question_count() == 0);
  CHECK(after.queries_sent == before.queries_sent);
  CHECK(after.cares_lookups == before.cares_lookups);
  CHECK(after.glibc_lookups - before.glibc_lookups == no_network_cases().size());
}

TEST_CASE("getaddrinfo outside a coroutine, or with hooks off, is glibc's and uncounted") {
  dns_test::isolate_network();
  const auto before = co::dns::stats();
  const GaiCase c{"localhost", "80", AI_CANONNAME, AF_UNSPEC, SOCK_STREAM, 0};
  const std::string expected = gai_with(glibc().getaddrinfo, glibc().freeaddrinfo, c);
  // A result made by glibc (outside) is freed by the same freeaddrinfo as ours.
  CHECK(gai_with(::getaddrinfo, ::freeaddrinfo, c) == expected);
  std::string hooks_off;
  dns_test::in_coroutine([&] {
    const bool was = co::set_hooks_enabled(false);
    hooks_off = gai_with(::getaddrinfo, ::freeaddrinfo, c);
    co::set_hooks_enabled(was);
  });
  CHECK(hooks_off == expected);
  const auto after = co::dns::stats();
  CHECK(after.glibc_lookups == before.glibc_lookups);
  CHECK(after.cares_lookups == before.cares_lookups);
}

TEST_CASE("names that are not host names are rejected without a query, as glibc does") {
  dns_test::isolate_network();
  dns_test::Responder responder;
  REQUIRE(responder.ok());
  dns_test::ResolverEnv env(responder.endpoint(), "options timeout:1 attempts:1\n");
  for (const char* name : {"bad name.test", "-leading.test", "tab\tname"}) {
    int rc = 0;
    hostent* h = nullptr;
    int herr = 0;
    dns_test::in_coroutine([&] {
      addrinfo* res = nullptr;
      rc = ::getaddrinfo(name, nullptr, nullptr, &res);
      if (rc == 0) ::freeaddrinfo(res);
      h = ::gethostbyname(name);
      herr = h_errno;
    });
    INFO(name);
    CHECK(rc == EAI_NONAME);
    CHECK(h == nullptr);
    CHECK(herr == HOST_NOT_FOUND);
  }
  CHECK(responder.question_count() == 0);
}

namespace {

std::string ghbn_with(int (*fn)(const char*, int, hostent*, char*, size_t, hostent**, int*),
                      const char* name, int af) {
  hostent he{};
  std::vector<char> buf(4096);
  hostent* result = nullptr;
  int herr = -1;
  errno = 0;
  const int rc = fn(name, af, &he, buf.data(), buf.size(), &result, &herr);
  return "rc=" + std::to_string(rc) + " h_errno=" + std::to_string(herr) + " " + describe(result);
}

}  // namespace

TEST_CASE("gethostbyname* in a coroutine: numeric names and /etc/hosts are glibc's") {
  dns_test::isolate_network();
  dns_test::Responder responder;
  REQUIRE(responder.ok());
  dns_test::ResolverEnv env(responder.endpoint(), "options timeout:1 attempts:1\n");
  struct Case {
    const char* name;
    int af;
  };
  const Case cases[] = {{"localhost", AF_INET}, {"LOCALHOST", AF_INET}, {"127.0.0.1", AF_INET},
                        {"127.1", AF_INET},     {"300.1.1.1", AF_INET}, {"::1", AF_INET6},
                        {"::1", AF_INET},       {"1.2.3.4", AF_INET6},  {"fe80::1", AF_INET6},
                        {"localhost", AF_UNIX}};
  for (const Case& c : cases) {
    const std::string expected = ghbn_with(glibc().gethostbyname2_r, c.name, c.af);
    std::string got_r, got_plain, got_plain2;
    dns_test::in_coroutine([&] {
      got_r = ghbn_with(::gethostbyname2_r, c.name, c.af);
      if (c.af == AF_INET) {
        hostent* h = ::gethostbyname(c.name);
        got_plain = describe(h);
      }
      got_plain2 = describe(::gethostbyname2(c.name, c.af));
    });
    INFO(c.name << " af=" << c.af);
    CHECK(got_r == expected);
    const std::string tail = expected.substr(expected.find(' ', expected.find("h_errno")) + 1);
    if (c.af == AF_INET) CHECK(got_plain == tail);
    CHECK(got_plain2 == tail);
  }
  CHECK(responder.question_count() == 0);
}

TEST_CASE("getnameinfo in a coroutine: /etc/hosts addresses and numeric forms are glibc's") {
  dns_test::isolate_network();
  dns_test::Responder responder;
  REQUIRE(responder.ok());
  dns_test::ResolverEnv env(responder.endpoint(), "options timeout:1 attempts:1\n");
  sockaddr_in lo{};
  lo.sin_family = AF_INET;
  lo.sin_port = htons(80);
  lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(53);
  inet_pton(AF_INET6, "2001:db8::5", &v6.sin6_addr);
  struct Case {
    const sockaddr* sa;
    socklen_t salen;
    socklen_t hostlen;
    socklen_t servlen;
    int flags;
  };
  const auto* lo_sa = reinterpret_cast<const sockaddr*>(&lo);
  const auto* v6_sa = reinterpret_cast<const sockaddr*>(&v6);
  const Case cases[] = {
      {lo_sa, sizeof lo, 64, 32, 0},
      {lo_sa, sizeof lo, 64, 32, NI_NUMERICHOST | NI_NUMERICSERV},
      {lo_sa, sizeof lo, 64, 32, NI_DGRAM},
      {lo_sa, sizeof lo, 64, 0, NI_NAMEREQD},
      {lo_sa, sizeof lo, 4, 32, 0},       // EAI_OVERFLOW
      {lo_sa, sizeof lo - 1, 64, 32, 0},  // EAI_FAMILY
      {lo_sa, sizeof lo, 0, 32, 0},       // service only
      {v6_sa, sizeof v6, 64, 32, NI_NUMERICHOST},
      {lo_sa, sizeof lo, 64, 32, 0x4000},  // EAI_BADFLAGS
  };
  auto run = [](int (*gni)(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int),
                const Case& c) {
    char host[64] = "untouched";
    char serv[32] = "untouched";
    const int rc = gni(c.sa, c.salen, c.hostlen ? host : nullptr, c.hostlen,
                       c.servlen ? serv : nullptr, c.servlen, c.flags);
    return "rc=" + std::to_string(rc) + " host=" + (rc == 0 ? host : "-") +
           " serv=" + (rc == 0 ? serv : "-");
  };
  for (const Case& c : cases) {
    const std::string expected = run(glibc().getnameinfo, c);
    std::string got;
    dns_test::in_coroutine([&] { got = run(::getnameinfo, c); });
    INFO("flags=" << c.flags << " hostlen=" << c.hostlen << " family=" << c.sa->sa_family);
    CHECK(got == expected);
  }
  CHECK(responder.question_count() == 0);
}
