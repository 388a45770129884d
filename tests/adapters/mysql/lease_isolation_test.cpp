// Nothing of one lease reaches the next: with a pool of ONE connection (so the second lease
// is the same server session), session state set by the first lease (autocommit, user
// variables, named locks) is gone, and result sets it left unread do not break the next
// borrower's query. Config::reset_session = false keeps the old behaviour for users who
// know why.
#include <doctest/doctest.h>

#include <string>

#include "leak_check.h"
#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

struct ServerStarted {
  ServerStarted() { server(); }
};
struct IsolationTest : ServerStarted {
  cofcgi_test::LeakCheck leaks;
};

}  // namespace

TEST_CASE_FIXTURE(IsolationTest, "lease isolation: autocommit=0 does not reach the next lease") {
  {
    MysqlPtr m = connect(Transport::unix_localhost);
    co::mysql::execute(m.get(), "CREATE OR REPLACE TABLE iso_t (v INT) ENGINE=InnoDB");
  }
  co::mysql::Pool pool(pool_config(true, 1));
  run_coroutines(1, [&](int) {
    std::string first_id;
    {
      auto c = pool.acquire();
      first_id = scalar(c, "SELECT CONNECTION_ID()");
      c.execute("SET autocommit=0");
    }
    auto c = pool.acquire();
    CHECK(scalar(c, "SELECT CONNECTION_ID()") == first_id);  // the same session
    CHECK(scalar(c, "SELECT @@autocommit") == "1");
    c.execute("INSERT INTO iso_t VALUES (1)");
  });
  // The second lease's INSERT was committed, not rolled back on release.
  CHECK(raw_scalar("SELECT COUNT(*) FROM iso_t") == "1");
}

TEST_CASE_FIXTURE(IsolationTest,
                  "lease isolation: user variables and GET_LOCK do not reach the next lease") {
  co::mysql::Pool pool(pool_config(true, 1));
  run_coroutines(1, [&](int) {
    {
      auto c = pool.acquire();
      c.execute("SET @secret='tenant-A'");
      CHECK(scalar(c, "SELECT GET_LOCK('iso_lock', 0)") == "1");
    }
    auto c = pool.acquire();
    CHECK(scalar(c, "SELECT @secret") == "NULL");
    CHECK(scalar(c, "SELECT IS_USED_LOCK('iso_lock')") == "NULL");
    // The connection's own settings survive the reset: character set and time zone from
    // Config (init_command runs again).
    CHECK(scalar(c, "SELECT @@character_set_client") == "utf8mb4");
  });
  CHECK(raw_scalar("SELECT IS_FREE_LOCK('iso_lock')") == "1");
}

TEST_CASE_FIXTURE(IsolationTest, "lease isolation: init_command applies again after the reset") {
  auto cfg = pool_config(true, 1);
  cfg.init_command = "SET time_zone='+05:00'";
  co::mysql::Pool pool(cfg);
  run_coroutines(1, [&](int) {
    {
      auto c = pool.acquire();
      CHECK(scalar(c, "SELECT @@time_zone") == "+05:00");
      c.execute("SET time_zone='+01:00'");
    }
    auto c = pool.acquire();
    CHECK(scalar(c, "SELECT @@time_zone") == "+05:00");
  });
}

TEST_CASE_FIXTURE(IsolationTest, "lease isolation: reset_session=false keeps session state") {
  auto cfg = pool_config(true, 1);
  cfg.reset_session = false;
  co::mysql::Pool pool(cfg);
  run_coroutines(1, [&](int) {
    {
      auto c = pool.acquire();
      c.execute("SET @kept='yes'");
    }
    {
      auto c = pool.acquire();
      CHECK(scalar(c, "SELECT @kept") == "yes");
      // A result the raw C API left unread: without the reset, the release pings (which
      // fails out of sync) and the connection is replaced, not lent mid-stream.
      REQUIRE(mysql_query(c.get(), "SELECT 1 UNION SELECT 2") == 0);
    }
    auto c = pool.acquire();
    CHECK(scalar(c, "SELECT 'next'") == "next");
  });
  CHECK(pool.stats().discarded == 1);
}

TEST_CASE_FIXTURE(IsolationTest,
                  "lease isolation: result sets left unread (CALL, multi-statement) are drained") {
  {
    MysqlPtr m = connect(Transport::unix_localhost);
    co::mysql::execute(m.get(),
                       "CREATE OR REPLACE PROCEDURE iso_p() BEGIN SELECT 1; SELECT 2; END");
  }
  auto cfg = pool_config(true, 1);
  cfg.client_flags = CLIENT_MULTI_STATEMENTS;
  co::mysql::Pool pool(cfg);
  run_coroutines(1, [&](int) {
    for (const char* sql : {"CALL iso_p()", "SELECT 1; SELECT 2; SELECT 3"}) {
      CAPTURE(sql);
      std::string first_id;
      {
        auto c = pool.acquire();
        first_id = scalar(c, "SELECT CONNECTION_ID()");
        // The raw C API, reading only the first result set.
        MYSQL* m = c.get();
        REQUIRE(mysql_query(m, sql) == 0);
        MYSQL_RES* res = mysql_store_result(m);
        REQUIRE(res != nullptr);
        mysql_free_result(res);
        CHECK(mysql_more_results(m));
      }
      auto c = pool.acquire();
      CHECK(scalar(c, "SELECT 'next'") == "next");             // not "Commands out of sync (2014)"
      CHECK(scalar(c, "SELECT CONNECTION_ID()") == first_id);  // drained, not discarded
    }
  });
}
