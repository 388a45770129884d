// co::mysql::Pool: parking when every connection is lent, the acquire timeout, leases that
// come back when a handler throws, broken connections discarded rather than reused, idle
// connections health-checked, open transactions rolled back, one thread only.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "leak_check.h"
#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

std::string connection_id(co::mysql::Connection& c) {
  return c.query("SELECT CONNECTION_ID()").value(0, 0);
}

// Every test ends with the fds, coroutines and timers it started with: the pool closed all
// its connections and nothing was left parked. (The server is started before the count.)
struct ServerStarted {
  ServerStarted() { server(); }
};
struct PoolTest : ServerStarted {
  cofcgi_test::LeakCheck leaks;
};

}  // namespace

TEST_CASE_FIXTURE(
    PoolTest,
    "pool: 20 coroutines share 4 connections; acquire parks and never exceeds the limit") {
  co::mysql::Pool pool(pool_config(true, 4));
  std::size_t max_in_use = 0;
  std::set<std::string> ids;
  Ticker ticker;
  const co::Deadline start = co::now_ns();
  run_coroutines(
      20,
      [&](int i) {
        auto conn = pool.acquire();
        max_in_use = std::max(max_in_use, pool.stats().in_use);
        ids.insert(connection_id(conn));
        auto r = conn.query("SELECT SLEEP(0.2), " + std::to_string(i));
        CHECK(r.value(0, 1) == std::to_string(i));
      },
      &ticker);
  const double elapsed = seconds_since(start);
  const auto st = pool.stats();
  MESSAGE("20 x SLEEP(0.2) over 4 connections: ", elapsed, " s; connects ", st.connects,
          ", ticker max gap ", ticker.max_gap() * 1e3, " ms");
  CHECK(max_in_use <= 4);
  CHECK(ids.size() == 4);
  CHECK(st.connects == 4);
  CHECK(st.open == 4);
  CHECK(st.idle == 4);
  CHECK(st.in_use == 0);
  CHECK(st.waiting == 0);
  CHECK(elapsed >= 0.95);         // 5 waves of 0.2 s
  CHECK(elapsed < 3.0);           // serial: 4 s
  CHECK(ticker.max_gap() < 1.0);  // sanity only; `elapsed` is the proof
}

TEST_CASE_FIXTURE(PoolTest,
                  "pool: acquire times out with AcquireTimeout when every connection stays lent") {
  auto cfg = pool_config(false, 1);
  cfg.acquire_timeout = std::chrono::milliseconds(300);
  co::mysql::Pool pool(cfg);
  double timed_out_after = -1;
  std::string message;
  double explicit_timeout_after = -1;
  run_coroutines(2, [&](int i) {
    if (i == 0) {
      auto conn = pool.acquire();
      conn.query("SELECT SLEEP(1)");
    } else {
      co::sleep_for(std::chrono::milliseconds(50));  // let the holder take the only connection
      const co::Deadline t0 = co::now_ns();
      try {
        pool.acquire();
        FAIL_CHECK("acquire() returned while the only connection was lent");
      } catch (const co::mysql::AcquireTimeout& e) {
        timed_out_after = seconds_since(t0);
        message = e.what();
        CHECK(e.code() == 0);
        CHECK(e.sqlstate() == "HYT00");
        CHECK_FALSE(e.connection_broken());
      }
      const co::Deadline t1 = co::now_ns();
      CHECK_THROWS_AS(pool.acquire(std::chrono::milliseconds(100)), co::mysql::AcquireTimeout);
      explicit_timeout_after = seconds_since(t1);
      // Waiting long enough gets the connection once the holder is done.
      auto conn = pool.acquire(std::chrono::milliseconds(5000));
      CHECK(conn.query("SELECT 1").value(0, 0) == "1");
    }
  });
  MESSAGE("acquire timeout after ", timed_out_after, " s: ", message);
  CHECK(timed_out_after >= 0.29);
  CHECK(timed_out_after < 1.0);
  CHECK(explicit_timeout_after >= 0.09);
  CHECK(explicit_timeout_after < 0.8);
  CHECK(pool.stats().acquire_timeouts == 2);
  CHECK(pool.stats().connects == 1);
}

TEST_CASE_FIXTURE(
    PoolTest, "pool: a handler that throws returns its lease; server errors keep the connection") {
  co::mysql::Pool pool(pool_config(true, 2));
  std::string first_id, later_id;
  run_coroutines(1, [&](int) {
    try {
      auto conn = pool.acquire();
      first_id = connection_id(conn);
      throw std::runtime_error("handler failed");
    } catch (const std::runtime_error&) {
    }
    CHECK(pool.stats().in_use == 0);
    CHECK(pool.stats().idle == 1);

    // A server-side error: co::mysql::Error with the server's number and message; the
    // connection is fine and goes back to the pool.
    try {
      auto conn = pool.acquire();
      conn.query("SELECT * FROM no_such_table");
      FAIL_CHECK("no error");
    } catch (const co::mysql::Error& e) {
      CHECK(e.code() == 1146);
      CHECK(e.sqlstate() == "42S02");
      CHECK(std::string(e.what()).find("no_such_table") != std::string::npos);
      CHECK_FALSE(e.connection_broken());
    }
    try {
      auto conn = pool.acquire();
      conn.query("SELEC 1");
    } catch (const co::mysql::Error& e) {
      CHECK(e.code() == 1064);
    }
    auto conn = pool.acquire();
    later_id = connection_id(conn);
  });
  CHECK(first_id == later_id);  // one connection all along, reused
  CHECK(pool.stats().connects == 1);
  CHECK(pool.stats().discarded == 0);
}

TEST_CASE_FIXTURE(PoolTest,
                  "pool: a connection that saw a network error is discarded, not reused") {
  co::mysql::Pool pool(pool_config(false, 2));
  std::string killed_id, next_id;
  run_coroutines(1, [&](int) {
    {
      auto conn = pool.acquire();
      killed_id = connection_id(conn);
      // The server kills this connection while it waits in a query.
      co::go([&] {
        co::sleep_for(std::chrono::milliseconds(100));
        server().admin_query("KILL " + killed_id);  // as root
      });
      try {
        conn.query("SELECT SLEEP(5)");
        FAIL_CHECK("no error");
      } catch (const co::mysql::Error& e) {
        MESSAGE("killed mid-query: ", std::string(e.what()));
        CHECK(e.connection_broken());
      }
      CHECK(conn.discarded());
    }
    CHECK(pool.stats().discarded == 1);
    CHECK(pool.stats().open == 0);
    auto conn = pool.acquire();
    next_id = connection_id(conn);
  });
  CHECK(next_id != killed_id);
  CHECK(pool.stats().connects == 2);

  // Raw API users are covered too: the last error on the MYSQL* decides.
  run_coroutines(1, [&](int) {
    std::string id;
    {
      auto conn = pool.acquire();
      id = connection_id(conn);
      co::go([&] {
        co::sleep_for(std::chrono::milliseconds(100));
        server().admin_query("KILL " + id);
      });
      CHECK(mysql_query(conn.get(), "SELECT SLEEP(5)") != 0);
      CHECK(co::mysql::Error::is_connection_error(mysql_errno(conn.get())));
    }
    auto conn = pool.acquire();
    CHECK(connection_id(conn) != id);
  });
  CHECK(pool.stats().discarded == 2);
}

TEST_CASE_FIXTURE(PoolTest, "pool: idle connections are health-checked before they are lent") {
  auto cfg = pool_config(true, 3);
  cfg.ping_after_idle = std::chrono::milliseconds(200);
  co::mysql::Pool pool(cfg);
  run_coroutines(1, [&](int) {
    std::string id;
    {
      auto conn = pool.acquire();
      id = connection_id(conn);
    }
    // Killed while idle: the server closes the socket; the cheap check sees it.
    server().admin_query("KILL " + id);
    co::sleep_for(std::chrono::milliseconds(50));
    {
      auto conn = pool.acquire();
      CHECK(connection_id(conn) != id);
      id = connection_id(conn);
    }
    CHECK(pool.stats().health_check_failures == 1);
    // Idle past ping_after_idle: pinged, still fine, reused.
    co::sleep_for(std::chrono::milliseconds(300));
    auto conn = pool.acquire();
    CHECK(connection_id(conn) == id);
  });
  CHECK(pool.stats().health_check_failures == 1);
  CHECK(pool.stats().connects == 2);
}

TEST_CASE_FIXTURE(
    PoolTest, "pool: an open transaction is rolled back before reuse; an unread result is read") {
  co::mysql::Pool pool(pool_config(false, 1));
  run_coroutines(1, [&](int) {
    {
      auto conn = pool.acquire();
      conn.execute("DROP TABLE IF EXISTS pool_txn");
      conn.execute("CREATE TABLE pool_txn (v INT) ENGINE=InnoDB");
    }
    try {
      auto conn = pool.acquire();
      conn.execute("BEGIN");
      conn.execute("INSERT INTO pool_txn VALUES (1)");
      throw std::runtime_error("handler failed mid-transaction");
    } catch (const std::runtime_error&) {
    }
    {
      auto conn = pool.acquire();
      CHECK(conn.query("SELECT COUNT(*) FROM pool_txn").value(0, 0) == "0");
      CHECK(conn.query("SELECT @@in_transaction").value(0, 0) == "0");
    }
    CHECK(pool.stats().connects == 1);
    // A result set left unread (the handler never called mysql_store_result): the release
    // reads it (mysql_reset_connection skips it), so the connection can be lent again.
    {
      auto conn = pool.acquire();
      REQUIRE(mysql_query(conn.get(), "SELECT 1 UNION SELECT 2") == 0);
      conn.release();
      CHECK(pool.stats().discarded == 0);
    }
    auto conn = pool.acquire();
    CHECK(conn.query("SELECT 7").value(0, 0) == "7");
  });
  CHECK(pool.stats().connects == 1);
}

TEST_CASE_FIXTURE(PoolTest, "pool: leases are move-only handles; any thread may use the pool") {
  co::mysql::Pool pool(pool_config(true, 2));
  run_coroutines(1, [&](int) {
    co::mysql::Pool::Lease a = pool.acquire();
    CHECK(static_cast<bool>(a));
    co::mysql::Connection b = std::move(a);
    CHECK_FALSE(static_cast<bool>(a));
    CHECK(a.get() == nullptr);
    CHECK_THROWS_AS(a.query("SELECT 1"), std::logic_error);
    CHECK(b.get() != nullptr);
    CHECK(pool.stats().in_use == 1);
    co::mysql::Connection c;
    c = std::move(b);
    CHECK(pool.stats().in_use == 1);
    c = pool.acquire();  // the first goes back
    CHECK(pool.stats().in_use == 1);
    CHECK(pool.stats().idle == 1);
    CHECK(c.escape("it's") == "it\\'s");
  });
  // Another thread (its own scheduler) uses the same pool; its connection is its own.
  // (This thread's idle ones are closed first: its scheduler does not run while it waits in
  // join(), so it could not close one for the other thread.)
  pool.close_idle();
  std::string answer;
  std::thread([&] {
    co::go([&] {
      try {
        answer = pool.acquire().query("SELECT 'other thread'").value(0, 0);
      } catch (const std::exception& e) {
        answer = e.what();
      }
    });
    co::run();
  }).join();
  CHECK(answer == "other thread");
  CHECK(pool.stats().threads == 1);  // the other thread's part ended with it
  CHECK(pool.stats().connects == 3);
}

TEST_CASE_FIXTURE(PoolTest, "pool: leases outliving the pool are closed, not returned") {
  auto pool = std::make_unique<co::mysql::Pool>(pool_config(true, 2));
  run_coroutines(1, [&](int) {
    auto conn = pool->acquire();
    auto idle = pool->acquire();
    idle.release();
    pool.reset();
    CHECK(conn.query("SELECT 1").value(0, 0) == "1");
  });
}

TEST_CASE_FIXTURE(PoolTest, "pool: one pool per thread, each thread's coroutines in parallel") {
  // Two threads, each with its own scheduler and Pool (co::mysql::thread_init on each).
  std::vector<std::string> errors[2];
  int done[2] = {0, 0};
  const co::Deadline start = co::now_ns();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      co::mysql::thread_init();
      co::mysql::Pool pool(pool_config(t == 0, 5));
      for (int i = 0; i < 10; ++i) {
        co::go([&, i] {
          try {
            auto conn = pool.acquire();
            if (conn.query("SELECT SLEEP(0.2), " + std::to_string(i)).value(0, 1) ==
                std::to_string(i))
              ++done[t];
          } catch (const std::exception& e) {
            errors[t].push_back(e.what());
          }
        });
      }
      co::run();
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed = seconds_since(start);
  for (const auto& errs : errors) {
    for (const auto& e : errs) FAIL_CHECK(e);
  }
  CHECK(done[0] == 10);
  CHECK(done[1] == 10);
  CHECK(elapsed < 2.0);  // 2 waves of 0.2 s per thread, both threads at once (serial: 4 s)
}

TEST_CASE_FIXTURE(
    PoolTest, "pool: waiters are served in order; a coroutine asking again cannot overtake them") {
  co::mysql::Pool pool(pool_config(true, 1));
  int a_rounds = 0;
  int b_got_at = -1, c_got_at = -1;
  bool b_done = false, c_done = false;
  run_coroutines(3, [&](int i) {
    if (i == 0) {
      // A returns the only connection and asks again at once, over and over.
      while (!(b_done && c_done) && a_rounds < 200) {
        auto conn = pool.acquire();
        ++a_rounds;
        co::yield();  // B and C run (and queue) while A holds it
      }
    } else {
      co::yield();
      auto conn = pool.acquire(std::chrono::milliseconds(2000));
      (i == 1 ? b_got_at : c_got_at) = a_rounds;
      CHECK(conn.query("SELECT 1").value(0, 0) == "1");
      (i == 1 ? b_done : c_done) = true;
    }
  });
  MESSAGE("B got the connection after ", b_got_at, " rounds of A, C after ", c_got_at);
  CHECK(b_got_at >= 1);
  CHECK(b_got_at <= 2);
  CHECK(c_got_at >= b_got_at);
  CHECK(c_got_at <= 3);
  CHECK(pool.stats().acquire_timeouts == 0);
}

TEST_CASE_FIXTURE(PoolTest, "pool: destroying the pool wakes its waiters with an error") {
  auto pool = std::make_unique<co::mysql::Pool>(pool_config(true, 1));
  std::string error;
  run_coroutines(2, [&](int i) {
    if (i == 0) {
      auto conn = pool->acquire();
      co::sleep_for(std::chrono::milliseconds(100));
      pool.reset();  // while the other coroutine waits
      CHECK(conn.query("SELECT 1").value(0, 0) == "1");
    } else {
      co::yield();
      try {
        pool->acquire(std::chrono::milliseconds(5000));
        FAIL_CHECK("acquire() succeeded on a destroyed pool");
      } catch (const co::mysql::Error& e) {
        error = e.what();
      }
    }
  });
  CHECK(error.find("destroyed") != std::string::npos);
}
