// A Pool owned by a thread_local (the way a program that keeps one pool per thread writes
// it) is destroyed at thread exit, after the thread's own part of the pool (its registry of
// per-thread pools, also thread_local, was made later and goes first). Destroying it then
// must neither crash nor leave a session on the server.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <thread>

#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

// sessions_of_user: the server's sessions of the fixture's user (over a raw connection as
// root would count itself; this one is the fixture's user too, so it counts itself once).
int sessions_of_user() {
  MysqlPtr m = connect(Transport::unix_localhost);
  const std::string sql =
      "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '" + server().user() + "'";
  REQUIRE(mysql_real_query(m.get(), sql.data(), sql.size()) == 0);
  MYSQL_RES* res = mysql_store_result(m.get());
  REQUIRE(res != nullptr);
  const int n = std::stoi(mysql_fetch_row(res)[0]);
  mysql_free_result(res);
  return n - 1;
}

}  // namespace

TEST_CASE("thread exit: a Pool in a thread_local is destroyed after its thread's part, cleanly") {
  const co::mysql::Config config = pool_config(true, 2);
  int answered = 0;
  std::thread thread([&] {
    thread_local std::unique_ptr<co::mysql::Pool> pool;
    pool = std::make_unique<co::mysql::Pool>(config);
    co::go([&] {
      auto a = pool->acquire();
      auto b = pool->acquire();
      answered += a.query("SELECT 1").value(0, 0) == "1";
      answered += b.query("SELECT 2").value(0, 0) == "2";
    });
    co::run();
  });
  thread.join();  // crashed here before (the Pool's destructor read the gone registry)
  CHECK(answered == 2);
  int left = -1;
  for (int i = 0; i < 100 && (left = sessions_of_user()) != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(left == 0);
}
