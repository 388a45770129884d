// Config::reset_only_when_changed: a lease that changed the session is reset like any other
// (whatever the route: a text query, a prepared statement, a stored routine, the raw
// handle), and one that changed nothing keeps the session and its prepared statements. A
// pool of ONE connection, so every lease is the same server session.
#include <doctest/doctest.h>

#include <string>

#include "leak_check.h"
#include "mysql_test_util.h"
#include "session_effects.h"

using namespace mysql_test;

namespace {

struct ServerStarted {
  ServerStarted() { server(); }
};
struct ResetTest : ServerStarted {
  cofcgi_test::LeakCheck leaks;
};

co::mysql::Config when_changed_config() {
  co::mysql::Config cfg = pool_config(true, 1);
  cfg.reset_only_when_changed = true;
  return cfg;
}

long long global_status(const char* name) {
  return std::stoll(
      raw_scalar(std::string("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE "
                             "VARIABLE_NAME='") +
                 name + "'"));
}

void setup_schema() {
  MysqlPtr m = connect(Transport::unix_localhost);
  co::mysql::execute(m.get(), "CREATE OR REPLACE TABLE rw_t (v INT) ENGINE=InnoDB");
  co::mysql::execute(m.get(), "CREATE OR REPLACE PROCEDURE rw_p() BEGIN SET @rw_pv = 1; END");
  co::mysql::execute(m.get(),
                     "CREATE OR REPLACE FUNCTION rw_f() RETURNS INT BEGIN SET @rw_fv = 7; "
                     "RETURN 1; END");
}

// One way a lease changes its session, and how the next lease sees that it is gone.
struct Change {
  const char* name;
  void (*change)(co::mysql::Connection&);
  void (*gone)(co::mysql::Connection&);
};

const Change kChanges[] = {
    {"user variable (SET, tracked)", [](auto& c) { c.execute("SET @rw_secret='tenant-A'"); },
     [](auto& c) { CHECK(scalar(c, "SELECT @rw_secret") == "NULL"); }},
    {"user variable assigned in a SELECT (not tracked)",
     [](auto& c) { CHECK(scalar(c, "SELECT @rw_v := 5") == "5"); },
     [](auto& c) { CHECK(scalar(c, "SELECT @rw_v") == "NULL"); }},
    {"session variable", [](auto& c) { c.execute("SET SESSION sql_mode='ANSI_QUOTES'"); },
     [](auto& c) { CHECK(scalar(c, "SELECT @@sql_mode LIKE '%ANSI_QUOTES%'") == "0"); }},
    {"autocommit", [](auto& c) { c.execute("SET autocommit=0"); },
     [](auto& c) { CHECK(scalar(c, "SELECT @@autocommit") == "1"); }},
    {"named lock (text query, not tracked)",
     [](auto& c) { CHECK(scalar(c, "SELECT GET_LOCK('rw_lock', 0)") == "1"); },
     [](auto& c) { CHECK(scalar(c, "SELECT IS_USED_LOCK('rw_lock')") == "NULL"); }},
    {"named lock (prepared statement, not tracked)",
     [](auto& c) { CHECK(c.prepare("SELECT GET_LOCK(?, 0)").execute("rw_lock2")[0][0] == "1"); },
     [](auto& c) { CHECK(scalar(c, "SELECT IS_USED_LOCK('rw_lock2')") == "NULL"); }},
    {"named lock (raw handle, not tracked)",
     [](auto& c) {
       MYSQL* m = c.get();
       REQUIRE(mysql_query(m, "SELECT GET_LOCK('rw_lock3', 0)") == 0);
       mysql_free_result(mysql_store_result(m));
     },
     [](auto& c) { CHECK(scalar(c, "SELECT IS_USED_LOCK('rw_lock3')") == "NULL"); }},
    {"LOCK TABLES (not tracked)", [](auto& c) { c.execute("LOCK TABLES rw_t READ"); },
     [](auto& c) { c.execute("INSERT INTO rw_t VALUES (1)"); }},  // fails under a READ lock
    {"open transaction", [](auto& c) { c.execute("BEGIN"); },
     [](auto& c) { CHECK(scalar(c, "SELECT @@in_transaction") == "0"); }},
    {"open transaction (prepared INSERT)",
     [](auto& c) {
       c.execute("START TRANSACTION");
       c.prepare("INSERT INTO rw_t VALUES (?)").execute(2);
     },
     [](auto& c) { CHECK(scalar(c, "SELECT COUNT(*) FROM rw_t WHERE v=2") == "0"); }},
    {"temporary table", [](auto& c) { c.execute("CREATE TEMPORARY TABLE rw_tmp (a INT)"); },
     [](auto& c) { c.execute("CREATE TEMPORARY TABLE rw_tmp (a INT)"); }},  // exists: throws
    {"procedure setting a variable", [](auto& c) { c.execute("CALL rw_p()"); },
     [](auto& c) { CHECK(scalar(c, "SELECT @rw_pv") == "NULL"); }},
    // Only the tracker sees this one: the statement is a plain SELECT.
    {"function setting a variable (plain SELECT, tracked)",
     [](auto& c) { CHECK(c.prepare("SELECT rw_f()").execute()[0][0] == "1"); },
     [](auto& c) { CHECK(scalar(c, "SELECT @rw_fv") == "NULL"); }},
};

}  // namespace

TEST_CASE_FIXTURE(ResetTest, "reset_only_when_changed: every kind of change is still reset") {
  setup_schema();
  for (const Change& change : kChanges) {
    CAPTURE(change.name);
    co::mysql::Pool pool(when_changed_config());
    run_coroutines(1, [&](int) {
      std::string first_id;
      {
        auto c = pool.acquire();
        first_id = scalar(c, "SELECT CONNECTION_ID()");
        change.change(c);
      }
      auto c = pool.acquire();
      CHECK(scalar(c, "SELECT CONNECTION_ID()") == first_id);  // the same session, reset
      change.gone(c);
    });
  }
  CHECK(raw_scalar("SELECT IS_FREE_LOCK('rw_lock')") == "1");
}

TEST_CASE_FIXTURE(ResetTest,
                  "reset_only_when_changed: a lease that changed nothing keeps its statements") {
  setup_schema();
  constexpr int kLeases = 20;
  for (const bool when_changed : {false, true}) {
    CAPTURE(when_changed);
    co::mysql::Config cfg = when_changed_config();
    cfg.reset_only_when_changed = when_changed;
    co::mysql::Pool pool(cfg);
    const long long prepares_before = global_status("COM_STMT_PREPARE");
    run_coroutines(1, [&](int) {
      for (int i = 0; i < kLeases; ++i) {
        auto c = pool.acquire();
        CHECK(c.prepare("SELECT ? + 1").execute(i)[0][0] == std::to_string(i + 1));
        c.prepare("INSERT INTO rw_t VALUES (?)").execute(i);
        CHECK(c.query("SELECT COUNT(*) FROM rw_t WHERE v >= 0").size() == 1);
      }
    });
    const long long prepares = global_status("COM_STMT_PREPARE") - prepares_before;
    if (when_changed) {
      CHECK(prepares == 2);  // once per connection: no reset dropped them
    } else {
      CHECK(prepares == 2 * kLeases);  // once per lease: the reset drops them
    }
    CHECK(pool.stats().connects == 1);
  }
  // Autocommit held: every INSERT is there.
  CHECK(raw_scalar("SELECT COUNT(*) FROM rw_t") == std::to_string(2 * kLeases));
}

TEST_CASE("reset_only_when_changed: which statements may change what the tracker misses") {
  using co::mysql::detail::may_change_session;
  for (const char* plain :
       {"SELECT 1", "  select id, name FROM t WHERE a=?", "/* c */ INSERT INTO t VALUES (?)",
        "UPDATE t SET v=v+1 WHERE id=?", "DELETE FROM t", "REPLACE INTO t VALUES (1)",
        "WITH x AS (SELECT 1) SELECT * FROM x", "-- c\nSELECT SLEEP(?)", "# c\nSELECT 2"}) {
    CAPTURE(plain);
    CHECK_FALSE(may_change_session(plain));
  }
  for (const char* changing :
       {"SET @a=1", "SELECT @a := 1", "SELECT GET_LOCK('x', 0)", "select get_lock(?, 0)",
        "LOCK TABLES t READ", "CALL p()", "SELECT 1; SET @a=1", "SELECT 1 INTO @x",
        "/*!50000 SET @a=1 */", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "BEGIN", "USE db",
        "PREPARE s FROM 'SELECT 1'", "HANDLER t OPEN", "SELECT * FROM t FOR UPDATE; ",
        "SELECT * FROM t LOCK IN SHARE MODE", "/* unterminated", ""}) {
    CAPTURE(changing);
    CHECK(may_change_session(changing));
  }
}
