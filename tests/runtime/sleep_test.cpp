// co::sleep_for / sleep_until and deadlines of WaitQueue::wait through the real scheduler:
// concurrency of sleeps, wake order, a days-long deadline that never fires, and parking
// outside a coroutine.
#include <doctest/doctest.h>
#include <errno.h>
#include <time.h>

#include <chrono>
#include <system_error>
#include <vector>

#include "cofcgi/runtime.h"
#include "leak_check.h"

using namespace std::chrono_literals;

namespace {

double seconds_since(co::Deadline start) { return static_cast<double>(co::now_ns() - start) / 1e9; }

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

TEST_CASE("sleep: 200 coroutines sleeping 200 ms each finish together, none early") {
  cofcgi_test::LeakCheck leaks;
  constexpr int kCount = 200;
  int woke = 0;
  int early = 0;
  const co::Deadline start = co::now_ns();
  for (int i = 0; i < kCount; ++i) {
    co::go([&] {
      const co::Deadline deadline = co::deadline_after(200ms);
      co::sleep_for(200ms);
      if (co::now_ns() < deadline) ++early;
      ++woke;
    });
  }
  co::run();
  const double elapsed = seconds_since(start);
  CHECK(woke == kCount);
  CHECK(early == 0);
  CHECK(elapsed >= 0.2);
  CHECK(elapsed < 1.0);  // sequential sleeps would take 40 s
  MESSAGE("200 x sleep_for(200ms) took " << elapsed << " s");
}

TEST_CASE("sleep: shorter sleeps wake first, whatever the start order") {
  cofcgi_test::LeakCheck leaks;
  std::vector<int> order;
  // Started in scrambled order; each sleeps its value times 15 ms.
  for (int v : {5, 1, 4, 2, 8, 3, 7, 6}) {
    co::go([&order, v] {
      co::sleep_for(std::chrono::milliseconds(15 * v));
      order.push_back(v);
    });
  }
  co::run();
  CHECK(order == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("sleep: sleep_until a past deadline and sleep_for(0) return, letting others run") {
  cofcgi_test::LeakCheck leaks;
  std::vector<int> trace;
  co::go([&] {
    trace.push_back(1);
    co::sleep_until(co::now_ns() - 1000000);
    trace.push_back(3);
    co::sleep_for(0ms);
    co::sleep_for(-5ms);
    trace.push_back(5);
  });
  co::go([&] {
    trace.push_back(2);
    co::yield();
    trace.push_back(4);
  });
  const co::Deadline start = co::now_ns();
  co::run();
  CHECK(seconds_since(start) < 0.5);
  // The sleeper parked (the other coroutine ran before it continued), then came back.
  REQUIRE(trace.size() == 5);
  CHECK(trace[0] == 1);
  CHECK(trace[1] == 2);
  CHECK(trace.back() == 5);
}

TEST_CASE("sleep: a 3-day deadline does not fire; stop() ends run(), notify ends the wait") {
  cofcgi_test::LeakCheck leaks;
  co::WaitQueue queue;
  bool waiting = false;
  bool finished = false;
  co::WakeReason reason = co::WakeReason::timeout;
  co::go([&] {
    waiting = true;
    reason = queue.wait(co::deadline_after(std::chrono::hours(72)));
    finished = true;
  });
  co::go([&] {
    co::sleep_for(300ms);
    co::stop();
  });
  const co::Deadline start = co::now_ns();
  const double cpu_start = thread_cpu_seconds();
  co::run();  // returns because of stop(), with the long waiter still parked
  const double elapsed = seconds_since(start);
  const double cpu = thread_cpu_seconds() - cpu_start;
  CHECK(waiting);
  CHECK_FALSE(finished);
  CHECK(elapsed >= 0.3);
  CHECK(elapsed < 2.0);
  // The loop slept in epoll_wait for the 300 ms instead of spinning.
  CHECK(cpu < 0.1);
  CHECK(co::stats().pending_timers == 1);
  CHECK(co::stats().live_coroutines >= 1);
  CHECK_FALSE(queue.empty());

  // Notify from the thread's own stack; the next run() lets the waiter finish.
  CHECK(queue.notify_one());
  const co::Deadline restart = co::now_ns();
  co::run();
  CHECK(finished);
  CHECK(reason == co::WakeReason::notified);
  CHECK(seconds_since(restart) < 0.5);
  CHECK(queue.empty());
  CHECK(co::stats().pending_timers == 0);
}

TEST_CASE("sleep: WaitQueue::wait deadline gives WakeReason::timeout on time") {
  cofcgi_test::LeakCheck leaks;
  co::WaitQueue queue;
  co::WakeReason reason = co::WakeReason::notified;
  double waited = 0;
  co::go([&] {
    const co::Deadline start = co::now_ns();
    reason = queue.wait(co::deadline_after(60ms));
    waited = seconds_since(start);
  });
  co::run();
  CHECK(reason == co::WakeReason::timeout);
  CHECK(waited >= 0.06);
  CHECK(waited < 1.0);
  CHECK(queue.empty());
  // A waiter that timed out is gone: nobody left to notify.
  CHECK_FALSE(queue.notify_one());
}

TEST_CASE("sleep: parking outside a coroutine throws std::system_error(EPERM)") {
  cofcgi_test::LeakCheck leaks;
  REQUIRE_FALSE(co::in_coroutine());
  auto expect_eperm = [](auto&& fn) {
    try {
      fn();
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == EPERM);
      CHECK(e.code() == std::errc::operation_not_permitted);
    }
  };
  const co::Deadline start = co::now_ns();
  expect_eperm([] { co::sleep_for(50ms); });
  expect_eperm([] { co::sleep_until(co::deadline_after(50ms)); });
  co::WaitQueue queue;
  expect_eperm([&] { queue.wait(); });
  expect_eperm([&] { queue.wait(co::deadline_after(50ms)); });
  CHECK(seconds_since(start) < 0.05);  // threw at once, never slept
  CHECK(queue.empty());
  CHECK(co::stats().pending_timers == 0);
}
