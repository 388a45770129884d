// Faults: the server is SIGKILLed while 20 coroutines wait in SELECT SLEEP(2) through the
// pool. They get connection errors promptly (no hang), a ticker coroutine keeps ticking,
// connects fail fast while the server is down, and once it is back (same socket, port and
// datadir) the pool reconnects by itself: broken connections were discarded, idle ones fail
// their health check and are replaced.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "mysql_test_util.h"

using namespace mysql_test;

TEST_CASE("fault: server killed mid-query, then restarted: errors, not hangs; the pool recovers") {
  auto& srv = server();
  for (const bool unix_socket : {true, false}) {
    const std::string transport = unix_socket ? "unix socket" : "tcp";
    CAPTURE(transport);
    REQUIRE(srv.running());
    co::mysql::Pool pool(pool_config(unix_socket, 32));
    constexpr int kWaiters = 20;
    std::vector<double> error_at(kWaiters, -1);
    std::vector<unsigned> codes(kWaiters, 0);
    int succeeded = 0;
    double killed_at = -1, down_connect_failed_after = -1, restarted_at = -1, recovered_at = -1;
    std::string down_error;
    int after_restart_ok = 0;
    Ticker ticker;
    const co::Deadline start = co::now_ns();
    run_coroutines(
        kWaiters + 1,
        [&](int i) {
          if (i < kWaiters) {
            try {
              auto conn = pool.acquire();
              conn.query("SELECT SLEEP(2)");
              ++succeeded;
            } catch (const co::mysql::Error& e) {
              error_at[i] = seconds_since(start);
              codes[i] = e.code();
              CHECK(e.connection_broken());
            }
            return;
          }
          // The conductor: 8 idle connections first (they must be found dead later), then
          // the crash while the 20 wait in the server.
          {
            std::vector<co::mysql::Connection> idle;
            for (int k = 0; k < 8; ++k) idle.push_back(pool.acquire());
          }
          co::sleep_for(std::chrono::milliseconds(400));
          REQUIRE(pool.stats().in_use == kWaiters);
          killed_at = seconds_since(start);
          srv.kill();  // SIGKILL; reaped with waitpid(WNOHANG) + a parking usleep
          // While the server is down a new connection fails at once, not after a timeout.
          co::sleep_for(std::chrono::milliseconds(200));
          pool.close_idle();  // (so the acquire below must connect)
          const co::Deadline t0 = co::now_ns();
          try {
            pool.acquire();
            FAIL_CHECK("acquire() succeeded with the server down");
          } catch (const co::mysql::Error& e) {
            down_connect_failed_after = seconds_since(t0);
            down_error = e.what();
          }
          srv.start();  // same datadir, socket and port; InnoDB crash recovery
          restarted_at = seconds_since(start);
          // The pool needs nothing: new acquires connect to the new server.
          for (int k = 0; k < 10; ++k) {
            auto conn = pool.acquire();
            if (conn.query("SELECT 6 * 7").value(0, 0) == "42") ++after_restart_ok;
          }
          recovered_at = seconds_since(start);
        },
        &ticker);

    double last_error = 0;
    for (int i = 0; i < kWaiters; ++i) {
      CAPTURE(i);
      CHECK(error_at[i] >= 0);
      CHECK(codes[i] == 2013);  // CR_SERVER_LOST
      last_error = std::max(last_error, error_at[i]);
    }
    const auto st = pool.stats();
    MESSAGE(transport, ": killed at ", killed_at, " s; all 20 waiters failed by ", last_error,
            " s; connect while down failed after ", down_connect_failed_after * 1e3, " ms ('",
            down_error, "'); restarted at ", restarted_at, " s (server start ",
            srv.last_start_time().count(), " ms); 10 queries ok by ", recovered_at,
            " s; ticker max gap ", ticker.max_gap() * 1e3, " ms, ", ticker.ticks(),
            " ticks; discarded ", st.discarded, ", connects ", st.connects);
    CHECK(succeeded == 0);
    CHECK(last_error - killed_at < 1.0);     // promptly, not at SLEEP's end nor a timeout
    CHECK(down_connect_failed_after < 1.0);  // (connect_timeout is 5 s)
    CHECK(after_restart_ok == 10);
    CHECK(st.discarded >= kWaiters);
    CHECK(st.in_use == 0);
    // No connection leaked: the server has exactly the pool's open ones.
    {
      MysqlPtr m = connect(Transport::unix_localhost);
      const auto n = co::mysql::query(m.get(),
                                      "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                      "WHERE USER='" +
                                          srv.user() + "' AND ID <> CONNECTION_ID()")
                         .value(0, 0);
      CHECK(std::stoul(n) == st.open);
    }
    // The thread kept serving throughout (a blocked SLEEP(2) would be a gap >= 1.6 s).
    CHECK(ticker.max_gap() < 1.0);
  }

  // Idle connections of a pool that missed the crash entirely are health-checked out.
  co::mysql::Pool pool(pool_config(false, 4));
  run_coroutines(1, [&](int) {
    {
      std::vector<co::mysql::Connection> held;
      for (int k = 0; k < 4; ++k) held.push_back(pool.acquire());
    }
    CHECK(pool.stats().idle == 4);
    srv.kill();
    srv.start();
    for (int k = 0; k < 4; ++k) {
      auto conn = pool.acquire();
      CHECK(conn.query("SELECT 1").value(0, 0) == "1");
    }
  });
  CHECK(pool.stats().health_check_failures == 4);
  CHECK(pool.stats().connects == 5);
}
