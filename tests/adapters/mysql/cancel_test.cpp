// A MariaDB call cut short by cancellation or a deadline (cofcgi/runtime/cancel.h): it fails
// with an error that says so, the pool discards that connection (the protocol stopped
// mid-exchange), the next lease works, and nothing is left behind: no fd, coroutine or
// timer here, and no session on the server.
#include "cofcgi/runtime/cancel.h"

#include <doctest/doctest.h>
#include <errno.h>

#include <chrono>
#include <string>

#include "leak_check.h"
#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

struct ServerStarted {
  ServerStarted() { server(); }
};
struct CancelTest : ServerStarted {
  cofcgi_test::LeakCheck leaks;
};

// sleeping_sessions counts the server's sessions still running `SELECT SLEEP(60)`.
int sleeping_sessions(co::mysql::Pool& pool) {
  auto conn = pool.acquire();
  const std::string n = conn.query(
                                "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                "WHERE INFO = 'SELECT SLEEP(60)'")
                            .value(0, 0);
  return std::stoi(n);
}

// A query cut by `interrupt` (run by another coroutine 100 ms in): what it threw and when.
struct Cut {
  std::string error;
  double after = 0;  // seconds from the query's start to the throw
  bool threw_mysql_error = false;
};

}  // namespace

TEST_CASE_FIXTURE(CancelTest,
                  "mysql cancel: a query cancelled mid-protocol fails at once with a clear error; "
                  "the pool discards that connection; the server's session ends") {
  co::mysql::Pool pool(pool_config(true, 2));
  Cut cut;
  co::CancelHandle handle;
  co::go([&] {
    handle = co::CancelHandle::current();
    auto conn = pool.acquire();
    const co::Deadline start = co::now_ns();
    try {
      (void)conn.query("SELECT SLEEP(60)");
    } catch (const co::mysql::Error& e) {
      cut.threw_mysql_error = true;
      cut.error = e.what();
    } catch (const std::exception& e) {
      cut.error = e.what();
    }
    cut.after = seconds_since(start);
  });
  co::go([&] {
    co::sleep_for(100ms);
    handle.cancel();
  });
  co::run();
  MESSAGE("cancelled query threw after " << cut.after << " s: " << cut.error);
  CHECK(cut.threw_mysql_error);
  CHECK(cut.after < 2.0);
  CHECK(cut.error.find("cancel") != std::string::npos);  // says why, not only "lost connection"
  auto st = pool.stats();
  CHECK(st.discarded == 1);
  CHECK(st.open == 0);
  CHECK(st.in_use == 0);
  // The next lease works, and the server ends the abandoned session (it notices the closed
  // socket within a few seconds of SLEEP's checks).
  int sleeping = -1;
  co::go([&] {
    auto conn = pool.acquire();
    CHECK(conn.query("SELECT 1").value(0, 0) == "1");
  });
  co::run();
  co::go([&] {
    const co::Deadline start = co::now_ns();
    while ((sleeping = sleeping_sessions(pool)) != 0 && seconds_since(start) < 15) {
      co::sleep_for(200ms);
    }
  });
  co::run();
  CHECK(sleeping == 0);
}

TEST_CASE_FIXTURE(CancelTest,
                  "mysql cancel: a DeadlineScope cuts a query in time; the connection is "
                  "discarded") {
  co::mysql::Pool pool(pool_config(false, 2));  // TCP this time
  Cut cut;
  co::go([&] {
    auto conn = pool.acquire();
    const co::Deadline start = co::now_ns();
    try {
      co::DeadlineScope deadline(150ms);
      (void)conn.query("SELECT SLEEP(60)");
    } catch (const co::mysql::Error& e) {
      cut.threw_mysql_error = true;
      cut.error = e.what();
    }
    cut.after = seconds_since(start);
  });
  co::run();
  MESSAGE("query past its deadline threw after " << cut.after << " s: " << cut.error);
  CHECK(cut.threw_mysql_error);
  CHECK(cut.after >= 0.14);
  CHECK(cut.after < 2.0);
  CHECK(pool.stats().discarded == 1);
  CHECK(pool.stats().open == 0);
}

TEST_CASE_FIXTURE(CancelTest,
                  "mysql cancel: a coroutine cancelled while it waits in acquire() leaves the "
                  "queue; the pool goes on") {
  co::mysql::Pool pool(pool_config(true, 1));
  std::string error;
  bool second_got_it = false;
  co::CancelHandle waiter;
  co::go([&] {
    auto conn = pool.acquire();
    co::sleep_for(100ms);  // holds the only connection
  });
  co::go([&] {
    waiter = co::CancelHandle::current();
    try {
      auto conn = pool.acquire();
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  co::go([&] {
    co::sleep_for(20ms);
    waiter.cancel();
    auto conn = pool.acquire();  // queued behind nobody now: gets the connection at 100 ms
    second_got_it = conn.query("SELECT 2").value(0, 0) == "2";
  });
  co::run();
  CHECK_FALSE(error.empty());
  CHECK(second_got_it);
  CHECK(pool.stats().waiting == 0);
}

// A call made after the coroutine was cancelled has not reached the server: it fails at once
// without sending anything, and the connection, whose protocol never left its resting state,
// stays in the pool (issue 14: every request nginx gave up on cost its connection, and the
// reconnects under load failed).
TEST_CASE_FIXTURE(CancelTest,
                  "mysql cancel: a call made after the cancel sends nothing; the connection is "
                  "kept") {
  co::mysql::Pool pool(pool_config(true, 1));
  std::string query_error, statement_error;
  std::string connection_id;
  co::go([&] {
    auto conn = pool.acquire();
    connection_id = conn.query("SELECT CONNECTION_ID()").value(0, 0);
    auto statement = conn.prepare("SELECT ? + 1");
    co::CancelHandle::current().cancel();
    try {
      (void)conn.query("SELECT 1");
    } catch (const co::mysql::Error& e) {
      query_error = e.what();
      CHECK_FALSE(e.connection_broken());
    }
    try {
      (void)statement.execute(1);
    } catch (const co::mysql::Error& e) {
      statement_error = e.what();
      CHECK_FALSE(e.connection_broken());
    }
    CHECK_FALSE(conn.discarded());
  });
  co::run();
  MESSAGE("query: " << query_error << "; statement: " << statement_error);
  CHECK(query_error.find("cancel") != std::string::npos);
  CHECK(statement_error.find("cancel") != std::string::npos);
  CHECK(pool.stats().discarded == 0);
  CHECK(pool.stats().open == 1);
  // The same connection serves the next lease, in sync.
  co::go([&] {
    auto conn = pool.acquire();
    CHECK(conn.query("SELECT CONNECTION_ID()").value(0, 0) == connection_id);
    CHECK(conn.prepare("SELECT ? + 1").execute(2).value(0, 0) == "3");
  });
  co::run();
  CHECK(pool.stats().connects == 1);
}

// A connect cut short because its own coroutine was cancelled (or passed its deadline) says
// nothing about the server: other acquirers must not be refused by the backoff for it
// (issue 14: "Lost connection ... system error: 125" then "server unreachable ... (backoff)"
// 503s on a healthy server).
TEST_CASE_FIXTURE(CancelTest,
                  "mysql cancel: a connect cut by its coroutine's cancel does not make the pool "
                  "back off") {
  // The handshake never comes from a silent listener: the connect waits until cancelled.
  SilentListener silent;
  auto cfg = pool_config(false, 4);
  cfg.port = silent.port;
  cfg.connect_timeout = 1s;
  cfg.backoff_initial = 10s;  // a failure blamed on the server refuses the next acquire
  co::mysql::Pool pool(cfg);
  std::string cut_error, next_error;
  co::CancelHandle connecting;
  co::go([&] {
    connecting = co::CancelHandle::current();
    try {
      auto conn = pool.acquire();
    } catch (const co::mysql::Error& e) {
      cut_error = e.what();
    }
  });
  co::go([&] {
    co::sleep_for(50ms);  // the first one waits for the greeting by then
    connecting.cancel();
  });
  co::run();
  // The next acquire tries the server itself (and fails at connect_timeout: it never greets).
  co::go([&] {
    try {
      auto conn = pool.acquire();
    } catch (const co::mysql::Error& e) {
      next_error = e.what();
    }
  });
  co::run();
  MESSAGE("cut connect: " << cut_error << "; the next acquire: " << next_error);
  CHECK(cut_error.find("system error: 125") != std::string::npos);  // ECANCELED
  CHECK(next_error.find("backoff") == std::string::npos);
  CHECK(pool.stats().backoff_refusals == 0);
  CHECK(pool.stats().in_use == 0);
}

TEST_CASE_FIXTURE(CancelTest,
                  "mysql cancel: a coroutine cancelled before acquire() gets no connection and "
                  "opens none") {
  co::mysql::Pool pool(pool_config(true, 2));
  co::go([&] { (void)pool.acquire().query("SELECT 1"); });  // one idle connection
  co::run();
  std::string error;
  co::go([&] {
    co::CancelHandle::current().cancel();
    try {
      auto conn = pool.acquire();
    } catch (const co::mysql::Error& e) {
      error = e.what();
    }
  });
  co::run();
  CHECK(error.find("cancel") != std::string::npos);
  const auto st = pool.stats();
  CHECK(st.connects == 1);
  CHECK(st.idle == 1);
  CHECK(st.in_use == 0);
  CHECK(st.backoff_refusals == 0);
}
