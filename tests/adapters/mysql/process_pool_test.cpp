// One co::mysql::Pool for the whole process, used from several scheduler threads at once:
// max_connections bounds the process (checked on the server too), and a thread whose
// coroutines wait with no connection of their own gets one: another thread closes an idle
// connection, or gives up the budget of one it gets back.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

// The server's view: connections of the fixture's user, counted through a pooled one.
long long server_connections(co::mysql::Connection& conn) {
  return conn.prepare("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER=?")
      .execute(server().user())[0]
      .get<long long>(0);
}

// Runs body(thread, coroutine) in `per_thread` coroutines on each of `threads` threads,
// each thread with its own scheduler; returns the errors.
std::vector<std::string> run_threads(int threads, int per_thread,
                                     const std::function<void(int, int)>& body) {
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        co::go([&, t, i] {
          try {
            body(t, i);
          } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(mu);
            errors.push_back("thread " + std::to_string(t) + ": " + e.what());
          }
        });
      }
      co::run();
    });
  }
  for (auto& th : ts) th.join();
  return errors;
}

}  // namespace

TEST_CASE("process pool: 3 threads x 10 coroutines share max_connections=4 of the process") {
  server();
  auto cfg = pool_config(true, 4);
  cfg.acquire_timeout = std::chrono::milliseconds(20000);
  co::mysql::Pool pool(cfg);
  std::atomic<long long> max_server_side{0};
  std::atomic<std::size_t> max_open{0};
  std::atomic<int> ok{0};
  const co::Deadline start = co::now_ns();
  const auto errors = run_threads(3, 10, [&](int, int i) {
    for (int round = 0; round < 3; ++round) {
      auto conn = pool.acquire();
      const std::size_t open = pool.stats().open;
      std::size_t seen = max_open.load();
      while (open > seen && !max_open.compare_exchange_weak(seen, open)) {
      }
      const long long n = server_connections(conn);
      long long m = max_server_side.load();
      while (n > m && !max_server_side.compare_exchange_weak(m, n)) {
      }
      auto r = conn.prepare("SELECT SLEEP(0.02), ?").execute(i);
      if (r[0].get<int>(1) == i) ++ok;
    }
  });
  const double elapsed = seconds_since(start);
  for (const auto& e : errors) FAIL_CHECK(e);
  const auto st = pool.stats();
  MESSAGE("90 leases over 3 threads, max_connections 4: ", elapsed, " s; most open ",
          max_open.load(), ", most on the server ", max_server_side.load(), "; connects ",
          st.connects, ", waits ", st.waits, ", longest wait ", st.wait_ns_max / 1e6, " ms");
  CHECK(ok == 90);
  CHECK(max_open.load() <= 4);
  // The server drops a closed session a moment after the client has closed it (the pool
  // counts a connection until mysql_close returns), so a new one may overlap it there.
  CHECK(max_server_side.load() <= 4 + 2);
  CHECK(st.in_use == 0);
  CHECK(st.waiting == 0);
  CHECK(st.acquire_timeouts == 0);
  CHECK(st.threads == 0);  // each thread's part ended with its thread
  CHECK(st.open == 0);     // ... closing its connections there
  CHECK(st.connects >= 3);
}

TEST_CASE("process pool: a thread with nothing to wait for gets another thread's idle one") {
  server();
  co::mysql::Pool pool(pool_config(true, 2));
  std::atomic<bool> a_ready{false}, b_done{false};
  std::atomic<double> b_waited{-1};
  std::string b_answer;
  std::thread a([&] {
    co::go([&] {
      {
        auto c1 = pool.acquire();
        auto c2 = pool.acquire();
      }  // both idle on thread A now
      a_ready = true;
      while (!b_done) co::sleep_for(std::chrono::milliseconds(5));  // A's scheduler runs
    });
    co::run();
  });
  while (!a_ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(pool.stats().idle == 2);
  std::thread b([&] {
    co::go([&] {
      const co::Deadline t0 = co::now_ns();
      try {
        auto conn = pool.acquire(std::chrono::milliseconds(3000));
        b_waited = seconds_since(t0);
        b_answer = conn.query("SELECT 'b'").value(0, 0);
      } catch (const std::exception& e) {
        b_answer = e.what();
      }
      b_done = true;
    });
    co::run();
  });
  b.join();
  a.join();
  MESSAGE("thread B waited ", b_waited.load() * 1e3, " ms for one of thread A's idle connections");
  CHECK(b_answer == "b");
  CHECK(b_waited.load() < 2.0);  // not the acquire timeout
  CHECK(pool.stats().connects == 3);
}

TEST_CASE("process pool: a connection returned on one thread serves a waiter on another") {
  server();
  co::mysql::Pool pool(pool_config(true, 1));
  std::atomic<bool> a_holds{false}, b_done{false};
  std::string b_answer;
  double b_waited = -1;
  std::thread a([&] {
    co::go([&] {
      {
        auto conn = pool.acquire();
        a_holds = true;
        co::sleep_for(std::chrono::milliseconds(300));
      }  // returned with no waiter here: B's waiter gets its budget
      while (!b_done) co::sleep_for(std::chrono::milliseconds(5));
    });
    co::run();
  });
  while (!a_holds) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread b([&] {
    co::go([&] {
      const co::Deadline t0 = co::now_ns();
      try {
        auto conn = pool.acquire(std::chrono::milliseconds(5000));
        b_waited = seconds_since(t0);
        b_answer = conn.query("SELECT 'b'").value(0, 0);
      } catch (const std::exception& e) {
        b_answer = e.what();
      }
      b_done = true;
    });
    co::run();
  });
  b.join();
  a.join();
  MESSAGE("thread B waited ", b_waited * 1e3, " ms (thread A held the only connection 300 ms)");
  CHECK(b_answer == "b");
  CHECK(b_waited >= 0.2);
  CHECK(b_waited < 3.0);
  CHECK(pool.stats().connects == 2);
}
