// The backoff is for a server that is down: while connections of the pool are lent and
// working, a connect that fails (here: the server's per-user connection limit) must not fail
// the requests that could be served by them (issue 14: a lost handshake under load put the
// pool into backoff and refused acquirers with 503 while 31 connections were serving).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

// UserLimit: the server lets the fixture's user hold at most `n` connections while it lives.
class UserLimit {
 public:
  explicit UserLimit(int n) { set(n); }
  ~UserLimit() { set(0); }  // 0: no limit
  UserLimit(const UserLimit&) = delete;
  UserLimit& operator=(const UserLimit&) = delete;

 private:
  // Over the unix socket the user is 'user'@'localhost'.
  static void set(int n) {
    server().admin_query("ALTER USER '" + server().user() +
                         "'@'localhost' WITH MAX_USER_CONNECTIONS " + std::to_string(n));
  }
};

}  // namespace

TEST_CASE("backoff: a connect that fails while a lent connection works waits for that one") {
  auto cfg = pool_config(true, 4);
  cfg.backoff_initial = std::chrono::milliseconds(2000);  // refusals all through the test
  co::mysql::Pool pool(cfg);
  const UserLimit limit(1);
  std::vector<std::string> errors;
  int served = 0;
  bool held = false;
  const auto errors_seen = run_coroutines(4, [&](int i) {
    if (i == 0) {  // holds the one connection the server allows, for a while
      auto conn = pool.acquire();
      held = true;
      co::sleep_for(std::chrono::milliseconds(200));
      served += conn.query("SELECT 1").value(0, 0) == "1";
      return;
    }
    // The first of these connects and is refused by the server (1203: too many connections
    // of this user), the others come during the backoff that follows.
    while (!held) co::sleep_for(std::chrono::milliseconds(5));
    co::sleep_for(std::chrono::milliseconds(20 * i));
    try {
      auto conn = pool.acquire();
      served += conn.query("SELECT 1").value(0, 0) == "1";
    } catch (const co::mysql::Error& e) {
      errors.push_back(e.what());
    }
  });
  const auto st = pool.stats();
  MESSAGE(served << " of 4 served; connect failures " << st.connect_failures
                 << ", backoff refusals " << st.backoff_refusals << ", waits " << st.waits
                 << (errors.empty() ? std::string() : "; first error: " + errors.front()));
  CHECK(errors_seen.empty());
  CHECK(errors.empty());
  CHECK(served == 4);
  CHECK(st.connect_failures >= 1);  // the limit was met: the case this test is about
  CHECK(st.in_use == 0);
}

TEST_CASE("backoff: with nothing lent, a failed connect still fails the acquirer at once") {
  auto cfg = pool_config(true, 4);
  cfg.backoff_initial = std::chrono::milliseconds(2000);
  co::mysql::Pool pool(cfg);
  const UserLimit limit(1);
  std::vector<MysqlPtr> hog;
  hog.push_back(connect(Transport::unix_localhost));  // the one connection allowed
  int failed = 0;
  run_coroutines(1, [&](int) {
    for (int k = 0; k < 2; ++k) {
      try {
        pool.acquire();
      } catch (const co::mysql::Error&) {
        ++failed;
      }
    }
  });
  CHECK(failed == 2);  // the connect, then the backoff: no wait for connections none has
  CHECK(pool.stats().backoff_refusals == 1);
  CHECK(pool.stats().waits == 0);
}
