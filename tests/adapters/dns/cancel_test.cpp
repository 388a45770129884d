// A name lookup cut short by cancellation or a deadline (cofcgi/runtime/cancel.h), through
// the public getaddrinfo hook only: the question went to a test name server that never
// answers; cancelling the coroutine makes getaddrinfo return at once with an error, a lookup
// afterwards on the same thread works, and nothing is left behind: no fd, coroutine or timer
// once the thread's resolver is released (memory: LeakSanitizer in the ASan pass).
#include <doctest/doctest.h>
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <string>

#include "cofcgi/adapters/dns.h"
#include "cofcgi/runtime.h"
#include "dns_responder.h"
#include "dns_test_util.h"
#include "leak_check.h"

using namespace std::chrono_literals;

namespace {

struct Lookup {
  int rc = 0;
  int err = 0;  // errno after an EAI_SYSTEM
  double after = 0;
};

Lookup lookup(const char* name) {
  Lookup l;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::int64_t start = co::now_ns();
  l.rc = ::getaddrinfo(name, "80", &hints, &res);
  l.err = errno;
  l.after = dns_test::seconds_since(start);
  if (l.rc == 0) ::freeaddrinfo(res);
  return l;
}

// The test name server ("drop.test" is never answered), the resolver pointed at it with a
// long timeout, so only the cancellation can end the lookup early.
struct Setup {
  Setup()
      : safe(dns_test::safe_to_resolve()),
        responder(dns_test::test_zone, 0ms),
        env(responder.endpoint(), "options timeout:5 attempts:2\n") {
    REQUIRE(safe);
    REQUIRE(responder.ok());
  }
  ~Setup() { co::dns::release_thread_resolver(); }
  bool safe;
  dns_test::Responder responder;
  dns_test::ResolverEnv env;
};

}  // namespace

TEST_CASE(
    "dns cancel: a lookup cancelled while the server is silent returns at once; the next "
    "works; nothing is left behind") {
  Setup s;
  Lookup cut, next;
  {
    cofcgi_test::LeakCheck leaks;
    co::CancelHandle handle;
    co::go([&] {
      handle = co::CancelHandle::current();
      cut = lookup("drop.test");
    });
    co::go([&] {
      for (int i = 0; i < 400 && s.responder.question_count() == 0; ++i) co::sleep_for(5ms);
      co::sleep_for(20ms);
      handle.cancel();
    });
    co::run();
    co::go([&] { next = lookup("real.test"); });
    co::run();
    co::dns::release_thread_resolver();
  }
  MESSAGE("cancelled lookup: " << std::string(gai_strerror(cut.rc)) << " (errno " << cut.err
                               << ") after " << cut.after << " s");
  CHECK(s.responder.question_count() > 0);  // the question went out: cut mid-lookup
  CHECK(cut.rc == EAI_SYSTEM);
  CHECK(cut.err == ECANCELED);
  CHECK(cut.after < 2.0);
  CHECK(next.rc == 0);
}

TEST_CASE("dns cancel: a DeadlineScope ends a lookup of a silent server in time") {
  Setup s;
  Lookup cut;
  {
    cofcgi_test::LeakCheck leaks;
    co::go([&] {
      co::DeadlineScope deadline(150ms);
      cut = lookup("drop.test");
    });
    co::run();
    co::dns::release_thread_resolver();
  }
  MESSAGE("lookup past its deadline: " << std::string(gai_strerror(cut.rc)) << " (errno " << cut.err
                                       << ") after " << cut.after << " s");
  CHECK(cut.rc == EAI_SYSTEM);
  CHECK(cut.err == ETIMEDOUT);
  CHECK(cut.after >= 0.14);
  CHECK(cut.after < 2.0);
}
