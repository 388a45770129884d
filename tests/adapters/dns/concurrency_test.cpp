// The proof of the issue: a responder that answers every query after 300 ms, and 80 lookups
// of different names -- half gethostbyname, half getaddrinfo -- each in its own coroutine on
// one thread. Done one after the other they would take 80 x 300 ms = 24 s; parked on the
// netpoller they overlap and finish in about one round trip, with the right answers, while
// other coroutines on the thread keep running.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netdb.h>
#include <resolv.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cofcgi/adapters/dns.h"
#include "cofcgi/runtime.h"
#include "dns_responder.h"
#include "dns_test_util.h"

namespace {

using dns_test::v4_of;
using dns_test::v6_of;

struct Tally {
  int right = 0;
  int wrong = 0;
  std::vector<std::string> problems;
};

// gethostbyname(hN.test) must give 10.0.x.y, and keep giving it after other coroutines made
// their own calls (the storage is the coroutine's).
void check_gethostbyname(unsigned n, Tally* t) {
  const std::string name = "h" + std::to_string(n) + ".test";
  hostent* h = ::gethostbyname(name.c_str());
  const int herr = h_errno;
  for (int i = 0; i < 3; ++i) co::yield();  // let the others store their results
  char buf[INET_ADDRSTRLEN] = "";
  const bool ok = h != nullptr && h->h_addrtype == AF_INET && h->h_addr_list[0] != nullptr &&
                  h->h_addr_list[1] == nullptr && name == h->h_name &&
                  inet_ntop(AF_INET, h->h_addr_list[0], buf, sizeof buf) != nullptr &&
                  v4_of(n) == buf;
  if (ok) {
    ++t->right;
  } else {
    ++t->wrong;
    t->problems.push_back(name + ": " + dns_test::describe(h) + " h_errno=" + std::to_string(herr));
  }
}

// getaddrinfo(hN.test, AF_UNSPEC, SOCK_STREAM) must give exactly 10.0.x.y and fd00::1:N.
void check_getaddrinfo(unsigned n, Tally* t) {
  const std::string name = "h" + std::to_string(n) + ".test";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(name.c_str(), "80", &hints, &res);
  std::set<std::string> got;
  for (addrinfo* p = res; rc == 0 && p != nullptr; p = p->ai_next) {
    char buf[INET6_ADDRSTRLEN];
    const void* a =
        p->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr);
    inet_ntop(p->ai_family, a, buf, sizeof buf);
    got.insert(buf);
  }
  const std::set<std::string> want{v4_of(n), v6_of(n)};
  if (rc == 0 && got == want) {
    ++t->right;
  } else {
    ++t->wrong;
    t->problems.push_back(name + ": rc=" + std::to_string(rc) + " " + dns_test::describe(res));
  }
  if (rc == 0) ::freeaddrinfo(res);
}

}  // namespace

TEST_CASE("80 lookups against a 300 ms server finish together, right, in well under 1.5 s") {
  REQUIRE(dns_test::safe_to_resolve());
  dns_test::Responder responder(dns_test::test_zone, std::chrono::milliseconds(300));
  REQUIRE(responder.ok());
  dns_test::ResolverEnv env(responder.endpoint(), "options timeout:5 attempts:2\n");
  co::dns::release_thread_resolver();

  Tally tally;
  int ticks = 0;
  bool done = false;
  const std::int64_t start = co::now_ns();
  double finished_at = 0;
  int remaining = 80;
  for (unsigned n = 0; n < 80; ++n) {
    co::go([&, n] {
      if (n < 40) {
        check_gethostbyname(n, &tally);
      } else {
        check_getaddrinfo(n, &tally);
      }
      if (--remaining == 0) {
        finished_at = dns_test::seconds_since(start);
        done = true;
      }
    });
  }
  // Another coroutine of the same thread keeps its 10 ms rhythm meanwhile.
  co::go([&] {
    while (!done) {
      co::sleep_for(std::chrono::milliseconds(10));
      ++ticks;
    }
  });
  co::run();
  MESSAGE("80 lookups (40 gethostbyname + 40 getaddrinfo) through a 300 ms server: "
          << finished_at << " s (one after the other: 80 x 0.3 s = 24 s); ticker ran " << ticks
          << " times");
  for (const std::string& p : tally.problems) MESSAGE(p);
  CHECK(tally.right == 80);
  CHECK(tally.wrong == 0);
  CHECK(finished_at >= 0.3);
  // About one round trip (0.31 s on an idle machine); the bound is the issue's, loose
  // enough for a loaded shared CI machine and still 16 times shorter than serial lookups.
  CHECK(finished_at < 1.5);
  CHECK(ticks > 0);
  // 40 A queries (gethostbyname) + 40 A/AAAA pairs (getaddrinfo), each once.
  const auto qs = responder.questions();
  std::set<std::pair<std::string, int>> distinct;
  for (const auto& q : qs) distinct.insert({q.name, q.type});
  CHECK(qs.size() == 120);
  CHECK(distinct.size() == 120);
  co::dns::release_thread_resolver();
}

TEST_CASE("two threads with their own schedulers resolve concurrently, each on its own channel") {
  REQUIRE(dns_test::safe_to_resolve());
  dns_test::Responder responder(dns_test::test_zone, std::chrono::milliseconds(300));
  REQUIRE(responder.ok());
  dns_test::ResolverEnv env(responder.endpoint(), "options timeout:5 attempts:2\n");
  std::atomic<int> right{0};
  std::atomic<int> wrong{0};
  const std::int64_t start = co::now_ns();
  auto worker = [&](unsigned first) {
    Tally t;
    for (unsigned n = first; n < first + 40; ++n) {
      co::go([&t, n] {
        if (n % 2 == 0) {
          check_gethostbyname(n, &t);
        } else {
          check_getaddrinfo(n, &t);
        }
      });
    }
    co::run();
    right += t.right;
    wrong += t.wrong;
    co::dns::release_thread_resolver();
  };
  std::thread a(worker, 100);
  std::thread b(worker, 200);
  a.join();
  b.join();
  const double elapsed = dns_test::seconds_since(start);
  MESSAGE("2 threads x 40 lookups: " << elapsed << " s");
  CHECK(right == 80);
  CHECK(wrong == 0);
  CHECK(elapsed < 1.5);
}

namespace {

// The A record's address at the end of a one-answer response (the responder's layout).
std::string last_a_of(const unsigned char* packet, int len) {
  if (len < 16) return "len=" + std::to_string(len);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, packet + len - 4, buf, sizeof buf);
  return buf;
}

}  // namespace

TEST_CASE("gethostbyaddr, res_query and res_search park only the coroutine: 12 overlap") {
  REQUIRE(dns_test::safe_to_resolve());
  dns_test::Responder responder(dns_test::test_zone, std::chrono::milliseconds(300));
  REQUIRE(responder.ok());
  dns_test::ResolverEnv env(responder.endpoint(),
                            "search example.test\noptions ndots:1 timeout:5 attempts:1\n");
  std::vector<std::string> got(12);
  bool done = false;
  int ticks = 0;
  int remaining = 12;
  const std::int64_t start = co::now_ns();
  for (int i = 0; i < 12; ++i) {
    co::go([&, i] {
      unsigned char answer[512];
      in_addr v4{};
      in6_addr v6{};
      inet_pton(AF_INET, "192.0.2.20", &v4);
      inet_pton(AF_INET6, "2001:db8::10", &v6);
      if (i % 4 == 0) {
        const hostent* h = ::gethostbyaddr(&v4, sizeof v4, AF_INET);
        got[i] = h != nullptr ? h->h_name : "h_errno=" + std::to_string(h_errno);
      } else if (i % 4 == 1) {
        hostent he{};
        char buf[512];
        hostent* h = nullptr;
        int herr = 0;
        ::gethostbyaddr_r(&v6, sizeof v6, AF_INET6, &he, buf, sizeof buf, &h, &herr);
        got[i] = h != nullptr ? h->h_name : "h_errno=" + std::to_string(herr);
      } else if (i % 4 == 2) {
        got[i] = last_a_of(
            answer, ::res_query("real.test", 1 /* C_IN */, 1 /* T_A */, answer, sizeof answer));
      } else {  // the search list: short -> short.example.test
        got[i] = last_a_of(answer, ::res_search("short", 1, 1, answer, sizeof answer));
      }
      if (--remaining == 0) done = true;
    });
  }
  co::go([&] {
    while (!done) {
      co::sleep_for(std::chrono::milliseconds(10));
      ++ticks;
    }
  });
  co::run();
  const double elapsed = dns_test::seconds_since(start);
  MESSAGE("12 gethostbyaddr/_r, res_query, res_search through a 300 ms server: "
          << elapsed << " s (one after the other: 3.6 s); ticker ran " << ticks << " times");
  for (int i = 0; i < 12; ++i) {
    const char* want[] = {"real.test", "v6only.test", "192.0.2.20", "192.0.2.30"};
    CHECK(got[i] == want[i % 4]);
  }
  CHECK(elapsed < 1.5);
  CHECK(ticks > 0);
  co::dns::release_thread_resolver();
}
