// Server faults under load through the pool, each with its figure: mariadbd SIGSTOPped
// (requests fail at the configured deadline, none hangs, the pool recovers after SIGCONT),
// the server's max_connections reached (a clear error at once, nothing leaked, served
// again once there is room), a query killed with KILL QUERY (an error for that query, the
// connection stays usable) and a connection killed with KILL (discarded, replaced).
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "leak_check.h"
#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

struct ServerStarted {
  ServerStarted() { server(); }
};
struct FaultTest : ServerStarted {
  cofcgi_test::LeakCheck leaks;
};

// The fixture user's sessions on the server (over a raw connection, not counted).
long long server_sessions() {
  MysqlPtr m = connect(Transport::unix_localhost);
  auto r =
      co::mysql::query(m.get(), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER='" +
                                    server().user() + "' AND ID <> CONNECTION_ID()");
  return std::stoll(r.value(0, 0));
}

}  // namespace

TEST_CASE_FIXTURE(FaultTest,
                  "fault: SIGSTOPped server: requests fail at the deadline, none hangs") {
  auto& srv = server();
  auto cfg = pool_config(true, 8);
  cfg.read_timeout = std::chrono::seconds(1);     // a query's deadline
  cfg.connect_timeout = std::chrono::seconds(1);  // connect / health check / reset deadline
  co::mysql::Pool pool(cfg);
  constexpr int kClients = 16;
  std::vector<double> failed_after(kClients, -1);
  std::vector<std::string> errors(kClients);
  int ok_before = 0, ok_after = 0;
  double stopped_at = -1, resumed_at = -1, first_ok_after_resume = -1;
  const co::Deadline start = co::now_ns();
  Ticker ticker;
  run_coroutines(
      kClients + 1,
      [&](int i) {
        if (i == kClients) {  // the conductor
          co::sleep_for(std::chrono::milliseconds(300));
          ::kill(srv.pid(), SIGSTOP);
          stopped_at = seconds_since(start);
          co::sleep_for(std::chrono::milliseconds(2500));
          ::kill(srv.pid(), SIGCONT);
          resumed_at = seconds_since(start);
          return;
        }
        // A client: requests in a loop until one fails, then until one succeeds again.
        for (;;) {
          const co::Deadline t0 = co::now_ns();
          try {
            auto conn = pool.acquire();
            conn.prepare("SELECT SLEEP(0.05), ?").execute(i);
            if (failed_after[i] < 0) {
              ++ok_before;
            } else {
              ++ok_after;
              if (first_ok_after_resume < 0) first_ok_after_resume = seconds_since(start);
              return;
            }
          } catch (const co::mysql::Error& e) {
            if (failed_after[i] < 0) {
              failed_after[i] = seconds_since(t0);
              errors[i] = e.what();
            }
            co::sleep_for(std::chrono::milliseconds(50));
          }
        }
      },
      &ticker);
  const double slowest = *std::max_element(failed_after.begin(), failed_after.end());
  MESSAGE("SIGSTOP at ", stopped_at, " s: ", ok_before,
          " requests ok before; every client's "
          "first failure within ",
          slowest, " s (read_timeout 1 s, connect_timeout 1 s): '", errors[0], "'; SIGCONT at ",
          resumed_at, " s, first success after it at ", first_ok_after_resume,
          " s; ticker max gap ", ticker.max_gap() * 1e3, " ms");
  for (int i = 0; i < kClients; ++i) {
    CAPTURE(i);
    CHECK(failed_after[i] >= 0);
    CHECK(failed_after[i] < 2.5);  // the 1 s deadline (+ a reset or a connect: 1 s each)
  }
  CHECK(ok_after == kClients);
  CHECK(first_ok_after_resume - resumed_at < 2.0);
  CHECK(ticker.max_gap() < 1.0);
  const auto st = pool.stats();
  CHECK(st.in_use == 0);
  CHECK(st.open == st.idle);
}

TEST_CASE_FIXTURE(FaultTest,
                  "fault: the server's max_connections reached: a clear error, nothing leaks") {
  auto& srv = server();
  // Connect until the server refuses (10 is MariaDB's smallest max_connections; it keeps an
  // extra slot for administrators such as the fixture's user).
  srv.admin_query("SET GLOBAL max_connections = 10");
  std::vector<MysqlPtr> hogs;
  while (hogs.size() < 20) {
    try {
      hogs.push_back(connect(Transport::unix_localhost));
    } catch (const co::mysql::Error& e) {
      REQUIRE(e.code() == 1040);
      break;
    }
  }
  MESSAGE("server full after ", hogs.size(), " connections (max_connections 10)");
  REQUIRE(hogs.size() < 20);
  auto cfg = pool_config(true, 8);
  cfg.backoff_initial = std::chrono::milliseconds(100);
  co::mysql::Pool pool(cfg);
  std::string error;
  unsigned code = 0;
  double failed_after = -1;
  bool ok_later = false;
  run_coroutines(1, [&](int) {
    const co::Deadline t0 = co::now_ns();
    try {
      pool.acquire();
      FAIL_CHECK("acquire succeeded past max_connections");
    } catch (const co::mysql::Error& e) {
      failed_after = seconds_since(t0);
      error = e.what();
      code = e.code();
    }
    CHECK(pool.stats().open == 0);                  // the failed connect gave its budget back
    hogs.clear();                                   // room again
    co::sleep_for(std::chrono::milliseconds(150));  // past the backoff
    ok_later = pool.acquire().query("SELECT 1").value(0, 0) == "1";
  });
  srv.admin_query("SET GLOBAL max_connections = 151");
  MESSAGE("max_connections reached: acquire failed after ", failed_after * 1e3, " ms: ", error);
  CHECK(code == 1040);  // ER_CON_COUNT_ERROR
  CHECK(error.find("Too many connections") != std::string::npos);
  CHECK(failed_after < 1.0);
  CHECK(ok_later);
  CHECK(pool.stats().connect_failures == 1);
}

TEST_CASE_FIXTURE(FaultTest,
                  "fault: KILL QUERY ends that query only; KILL discards the connection") {
  // A row lock held elsewhere makes the pooled query wait (innodb_lock_wait_timeout: 50 s).
  MysqlPtr holder = connect(Transport::unix_localhost);
  co::mysql::execute(holder.get(),
                     "CREATE OR REPLACE TABLE kill_t (id INT PRIMARY KEY) ENGINE=InnoDB");
  co::mysql::execute(holder.get(), "INSERT INTO kill_t VALUES (1)");
  co::mysql::execute(holder.get(), "BEGIN");
  co::mysql::execute(holder.get(), "SELECT * FROM kill_t WHERE id=1 FOR UPDATE");
  co::mysql::Pool pool(pool_config(true, 1));
  std::string id_before, id_after_query_kill, id_after_kill;
  unsigned query_kill_code = 0, kill_code = 0;
  double query_killed_after = -1;
  run_coroutines(2, [&](int i) {
    if (i == 1) {  // the killer, on a raw connection
      co::sleep_for(std::chrono::milliseconds(200));
      MysqlPtr m = connect(Transport::unix_localhost);
      co::mysql::execute(m.get(), "KILL QUERY " + id_before);
      co::sleep_for(std::chrono::milliseconds(300));
      co::mysql::execute(m.get(), "KILL " + id_before);
      return;
    }
    {
      auto conn = pool.acquire();
      id_before = conn.query("SELECT CONNECTION_ID()").value(0, 0);
      const co::Deadline t0 = co::now_ns();
      try {
        conn.query("SELECT * FROM kill_t WHERE id=1 FOR UPDATE");
        FAIL_CHECK("the long query was not killed");
      } catch (const co::mysql::Error& e) {
        query_killed_after = seconds_since(t0);
        query_kill_code = e.code();
        CHECK_FALSE(e.connection_broken());
      }
    }
    {
      auto conn = pool.acquire();
      id_after_query_kill = conn.query("SELECT CONNECTION_ID()").value(0, 0);
      try {
        conn.query("SELECT SLEEP(5)");
        FAIL_CHECK("the killed connection's query returned");
      } catch (const co::mysql::Error& e) {
        kill_code = e.code();
        CHECK(e.connection_broken());
      }
    }
    auto conn = pool.acquire();
    id_after_kill = conn.query("SELECT CONNECTION_ID()").value(0, 0);
  });
  MESSAGE("KILL QUERY: the query failed after ", query_killed_after, " s with ", query_kill_code,
          "; KILL: ", kill_code);
  CHECK(query_kill_code == 1317);                   // ER_QUERY_INTERRUPTED
  CHECK(id_after_query_kill == id_before);          // kept
  CHECK((kill_code == 1927 || kill_code == 2013));  // ER_CONNECTION_KILLED / lost
  CHECK(id_after_kill != id_before);                // replaced
  CHECK(pool.stats().discarded == 1);
  holder.reset();
  co::go([] { co::sleep_for(std::chrono::milliseconds(100)); });  // the server ends killed ones
  co::run();
  CHECK(server_sessions() == static_cast<long long>(pool.stats().open));
}
