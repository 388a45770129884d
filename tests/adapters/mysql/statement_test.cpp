// co::mysql::Statement: prepared statements with bound parameters from a pooled connection:
// typed values out (by index and by name, NULL as std::optional), values in without any
// quoting, affected rows, and the per-connection cache: statements are prepared once, never
// pile up on the server (Prepared_stmt_count), and are closed with their connection.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "leak_check.h"
#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

struct ServerStarted {
  ServerStarted() { server(); }
};
struct StatementTest : ServerStarted {
  cofcgi_test::LeakCheck leaks;
};

// The server's count of prepared statements that exist now (all sessions) and of
// COM_STMT_PREPARE commands so far.
long long global_status(const char* name) {
  MysqlPtr m = connect(Transport::unix_localhost);
  auto r = co::mysql::query(m.get(), std::string("SHOW GLOBAL STATUS LIKE '") + name + "'");
  REQUIRE(r.size() == 1);
  return std::stoll(r.value(0, 1));
}

void create_world() {
  MysqlPtr m = connect(Transport::unix_localhost);
  co::mysql::execute(
      m.get(),
      "CREATE OR REPLACE TABLE World (id INT NOT NULL PRIMARY KEY, randomNumber "
      "INT NOT NULL, price DOUBLE NULL, note MEDIUMTEXT NULL, big BIGINT UNSIGNED NULL)");
  co::mysql::execute(m.get(),
                     "INSERT INTO World SELECT seq, seq * 10, seq / 4, NULL, NULL FROM "
                     "seq_1_to_100");
}

}  // namespace

TEST_CASE_FIXTURE(StatementTest, "statement: typed values by index and by name; NULL") {
  create_world();
  co::mysql::Pool pool(pool_config(true, 2));
  run_coroutines(1, [&](int) {
    auto conn = pool.acquire();
    co::mysql::Result r = conn.prepare(
                                  "SELECT id, randomNumber, price, note, big FROM World "
                                  "WHERE id=?")
                              .execute(7);
    REQUIRE(r.size() == 1);
    CHECK(r[0].get<std::int64_t>(0) == 7);
    CHECK(r[0].get<int>("randomNumber") == 70);
    CHECK(r[0].get<std::string>(1) == "70");
    CHECK(r[0].get<double>("price") == doctest::Approx(1.75));
    CHECK(r[0].get<std::optional<std::string>>("note") == std::nullopt);
    CHECK(r[0].get<std::optional<std::int64_t>>(0) == 7);
    CHECK_THROWS_AS(r[0].get<std::string>("note"), std::out_of_range);  // NULL
    CHECK_THROWS_AS(r[0].get<int>("price"), std::invalid_argument);     // "1.75"
    CHECK_THROWS_AS(r[0].get<int>("no_such_column"), std::out_of_range);
    CHECK(r.columns().size() == 5);
    CHECK(r.columns()[1] == "randomNumber");
    // No row: an empty result.
    CHECK(conn.prepare("SELECT id FROM World WHERE id=?").execute(1000).empty());
  });
}

TEST_CASE_FIXTURE(StatementTest,
                  "statement: values round-trip exactly: long text, bytes, quotes, limits") {
  create_world();
  co::mysql::Pool pool(pool_config(false, 1));
  run_coroutines(1, [&](int) {
    auto conn = pool.acquire();
    const std::string long_text(100000, 'x');
    const std::string bytes("a\0b'c\"d\\e; DROP TABLE World; --", 32);
    const std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();
    auto update = conn.prepare("UPDATE World SET note=?, big=?, price=? WHERE id=?");
    CHECK(update.param_count() == 4);
    CHECK(update.execute_update(long_text, max_u64, 0.1 + 0.2, 1) == 1);
    CHECK(conn.prepare("UPDATE World SET note=?, big=?, price=? WHERE id=?")
              .execute_update(bytes, std::nullopt, std::optional<double>{}, 2) == 1);
    auto select = conn.prepare("SELECT note, big, price FROM World WHERE id=?");
    auto r1 = select.execute(1);
    CHECK(r1[0].get<std::string>(0) == long_text);  // past the first 256-byte buffer
    CHECK(r1[0].get<std::uint64_t>(1) == max_u64);
    CHECK(r1[0].get<double>(2) == 0.1 + 0.2);  // exact, not rounded to 15 digits
    auto r2 = select.execute(2);
    CHECK(r2[0].get<std::string>(0) == bytes);
    CHECK(r2[0].get<std::optional<std::uint64_t>>(1) == std::nullopt);
    CHECK(r2[0][2] == std::nullopt);
    // The table survived the "injection".
    CHECK(conn.query("SELECT COUNT(*) FROM World").value(0, 0) == "100");
    // affected rows and insert id
    CHECK(conn.prepare("UPDATE World SET randomNumber=randomNumber+1 WHERE id<=?")
              .execute_update(10) == 10);
    conn.execute("CREATE OR REPLACE TABLE stmt_auto (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
    auto ins = conn.prepare("INSERT INTO stmt_auto (v) VALUES (?)");
    CHECK(ins.execute(5).insert_id == 1);
    CHECK(ins.execute(6).insert_id == 2);
  });
}

TEST_CASE_FIXTURE(StatementTest, "statement: errors: wrong argument count, server errors") {
  create_world();
  co::mysql::Pool pool(pool_config(true, 1));
  run_coroutines(1, [&](int) {
    auto conn = pool.acquire();
    CHECK_THROWS_AS(conn.prepare("SELECT id FROM World WHERE id=?").execute(),
                    std::invalid_argument);
    CHECK_THROWS_AS(conn.prepare("SELECT id FROM World WHERE id=?").execute(1, 2),
                    std::invalid_argument);
    try {
      conn.prepare("SELECT nope FROM World");
      FAIL_CHECK("prepare of a bad statement succeeded");
    } catch (const co::mysql::Error& e) {
      CHECK(e.code() == 1054);  // ER_BAD_FIELD_ERROR
      CHECK(!e.connection_broken());
    }
    auto ins = conn.prepare("INSERT INTO World (id, randomNumber) VALUES (?, ?)");
    try {
      ins.execute(1, 1);
      FAIL_CHECK("duplicate key accepted");
    } catch (const co::mysql::Error& e) {
      CHECK(e.code() == 1062);  // ER_DUP_ENTRY
    }
    // The statement and the connection still work.
    CHECK(ins.execute_update(1000, 1) == 1);
    CHECK(!conn.discarded());
  });
  CHECK(pool.stats().discarded == 0);
}

TEST_CASE_FIXTURE(StatementTest,
                  "statement cache: prepared once per connection, closed with it, bounded") {
  create_world();
  const long long before = global_status("Prepared_stmt_count");
  auto cfg = pool_config(true, 1);
  cfg.reset_session = false;  // statements live as long as the connection
  cfg.statement_cache_size = 4;
  {
    co::mysql::Pool pool(cfg);
    const long long prepares_before = global_status("Com_stmt_prepare");
    run_coroutines(1, [&](int) {
      for (int lease = 0; lease < 10; ++lease) {
        auto conn = pool.acquire();
        for (int i = 1; i <= 10; ++i) {
          auto r = conn.prepare("SELECT randomNumber FROM World WHERE id=?").execute(i);
          CHECK(r[0].get<int>(0) == i * 10);
        }
      }
    });
    CHECK(global_status("Com_stmt_prepare") - prepares_before == 1);
    CHECK(global_status("Prepared_stmt_count") - before == 1);
    // Ten different statements through a cache of four: four stay on the server.
    run_coroutines(1, [&](int) {
      auto conn = pool.acquire();
      for (int k = 0; k < 10; ++k)
        conn.prepare("SELECT " + std::to_string(k) + " + id FROM World WHERE id=?").execute(1);
    });
    CHECK(global_status("Prepared_stmt_count") - before == 4);
  }
  // The pool is gone: so are its statements.
  CHECK(global_status("Prepared_stmt_count") == before);

  // With the session reset (the default) the server drops them at every release: none
  // accumulate, and the next lease prepares again.
  cfg.reset_session = true;
  co::mysql::Pool pool(cfg);
  run_coroutines(1, [&](int) {
    for (int lease = 0; lease < 5; ++lease) {
      auto conn = pool.acquire();
      for (int i = 1; i <= 3; ++i)
        CHECK(conn.prepare("SELECT id FROM World WHERE id=?").execute(i)[0].get<int>(0) == i);
    }
  });
  CHECK(global_status("Prepared_stmt_count") == before);
}
