// The sleep family (usleep, poll with no fds, nanosleep, clock_nanosleep, sleep) parks only
// the calling coroutine; outside a coroutine, or with hooks off, it sleeps the thread.
#include <doctest/doctest.h>
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <functional>

#include "cofcgi/hooks/hooks.h"
#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"

using hooks_test::seconds_since;

namespace {

struct Outcome {
  int finished = 0;
  int early = 0;       // woke before the time asked
  int bad_result = 0;  // the call did not return what libc would
  double elapsed = 0;
};

// run_sleepers starts `count` coroutines that each call sleep_call() (which must return
// true when its result is right and sleep `at_least_ns`), drives them, and reports.
Outcome run_sleepers(int count, std::int64_t at_least_ns, const std::function<bool()>& sleep_call) {
  Outcome out;
  const co::Deadline start = co::now_ns();
  for (int i = 0; i < count; ++i) {
    co::go([&] {
      const co::Deadline begin = co::now_ns();
      if (!sleep_call()) ++out.bad_result;
      if (co::now_ns() - begin < at_least_ns) ++out.early;
      ++out.finished;
    });
  }
  co::run();
  out.elapsed = seconds_since(start);
  return out;
}

constexpr int kCount = 200;
constexpr std::int64_t k200ms = 200'000'000;

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

TEST_CASE("sleep hooks: 200 coroutines each usleep(200 ms) finish together") {
  cofcgi_test::LeakCheck leaks;
  const Outcome o = run_sleepers(kCount, k200ms, [] { return ::usleep(200'000) == 0; });
  CHECK(o.finished == kCount);
  CHECK(o.bad_result == 0);
  CHECK(o.early == 0);
  CHECK(o.elapsed < 0.9 * hooks_test::kSlack);  // a thread-blocking usleep would take 40 s
  MESSAGE("200 x usleep(200ms): " << o.elapsed << " s");
}

TEST_CASE("sleep hooks: 200 coroutines each poll(NULL, 0, 200) finish together") {
  cofcgi_test::LeakCheck leaks;
  const Outcome o = run_sleepers(kCount, k200ms, [] { return ::poll(nullptr, 0, 200) == 0; });
  CHECK(o.finished == kCount);
  CHECK(o.bad_result == 0);
  CHECK(o.early == 0);
  CHECK(o.elapsed < 0.9 * hooks_test::kSlack);
  MESSAGE("200 x poll(NULL,0,200): " << o.elapsed << " s");
}

TEST_CASE("sleep hooks: 200 coroutines each nanosleep(200 ms) finish together") {
  cofcgi_test::LeakCheck leaks;
  const Outcome o = run_sleepers(kCount, k200ms, [] {
    const timespec req{0, 200'000'000};
    timespec rem{7, 7};
    // libc writes rem only when a signal cuts the sleep short.
    return ::nanosleep(&req, &rem) == 0 && rem.tv_sec == 7 && rem.tv_nsec == 7;
  });
  CHECK(o.finished == kCount);
  CHECK(o.bad_result == 0);
  CHECK(o.early == 0);
  CHECK(o.elapsed < 0.9 * hooks_test::kSlack);
  MESSAGE("200 x nanosleep(200ms): " << o.elapsed << " s");
}

TEST_CASE("sleep hooks: 200 coroutines each clock_nanosleep, relative and absolute") {
  cofcgi_test::LeakCheck leaks;
  int n = 0;
  const Outcome o = run_sleepers(kCount, k200ms, [&n] {
    const timespec req{0, 200'000'000};
    if (++n % 2 == 0) return ::clock_nanosleep(CLOCK_MONOTONIC, 0, &req, nullptr) == 0;
    timespec until{};
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 200'000'000;
    if (until.tv_nsec >= 1'000'000'000) {
      until.tv_nsec -= 1'000'000'000;
      ++until.tv_sec;
    }
    return ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == 0;
  });
  CHECK(o.finished == kCount);
  CHECK(o.bad_result == 0);
  CHECK(o.early == 0);
  CHECK(o.elapsed < 0.9 * hooks_test::kSlack);
}

TEST_CASE("sleep hooks: 20 coroutines each sleep(1) finish in about one second") {
  cofcgi_test::LeakCheck leaks;
  const Outcome o = run_sleepers(20, 1'000'000'000, [] { return ::sleep(1) == 0; });
  CHECK(o.finished == 20);
  CHECK(o.bad_result == 0);
  CHECK(o.early == 0);
  CHECK(o.elapsed < 1.5 * hooks_test::kSlack);  // sequential: 20 s
  MESSAGE("20 x sleep(1): " << o.elapsed << " s");
}

TEST_CASE("sleep hooks: nanosleep keeps libc's EINVAL for a bad timespec inside a coroutine") {
  cofcgi_test::LeakCheck leaks;
  int r = 0;
  int err = 0;
  int cr = 0;
  co::go([&] {
    const timespec bad{0, 1'000'000'000};
    errno = 0;
    r = ::nanosleep(&bad, nullptr);
    err = errno;
    cr = ::clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, nullptr);  // returns the error itself
  });
  co::run();
  CHECK(r == -1);
  CHECK(err == EINVAL);
  CHECK(cr == EINVAL);
}

TEST_CASE("sleep hooks: sleeping coroutines do not stall a busy one") {
  cofcgi_test::LeakCheck leaks;
  int ticks = 0;
  bool sleeper_done = false;
  co::go([&] {
    ::usleep(150'000);
    sleeper_done = true;
  });
  co::go([&] {
    // 15 x 10 ms of parking: a thread-blocking usleep above would delay none of these
    // but would hold the sleeper's 150 ms first; count how many ticks precede its wake-up.
    while (!sleeper_done) {
      ::usleep(10'000);
      ++ticks;
    }
  });
  co::run();
  CHECK(sleeper_done);
  CHECK(ticks >= 5);  // about 14 when the two interleave; 1 if usleep blocked the thread
}

TEST_CASE("sleep hooks: outside a coroutine usleep really sleeps the thread") {
  cofcgi_test::LeakCheck leaks;
  bool ran = false;
  co::go([&] { ran = true; });  // queued: must not run while main sleeps
  const co::Deadline start = co::now_ns();
  const double cpu_before = thread_cpu_seconds();
  CHECK(::usleep(150'000) == 0);
  const double elapsed = seconds_since(start);
  const double cpu = thread_cpu_seconds() - cpu_before;
  CHECK(elapsed >= 0.15);
  CHECK(elapsed < 1.0);
  CHECK(cpu < 0.05);  // asleep, not spinning the scheduler
  CHECK_FALSE(ran);   // nothing was scheduled during the sleep
  const timespec req{0, 50'000'000};
  const co::Deadline start2 = co::now_ns();
  CHECK(::nanosleep(&req, nullptr) == 0);
  CHECK(seconds_since(start2) >= 0.05);
  CHECK_FALSE(ran);
  co::run();
  CHECK(ran);
}

TEST_CASE("sleep hooks: with hooks disabled in a coroutine usleep blocks the thread") {
  cofcgi_test::LeakCheck leaks;
  int other_ran_during_sleep = -1;
  bool other_ran = false;
  co::go([&] {
    co::hooks::ScopedDisable off;
    ::usleep(100'000);
    other_ran_during_sleep = other_ran ? 1 : 0;
  });
  co::go([&] { other_ran = true; });
  co::run();
  CHECK(other_ran_during_sleep == 0);
  CHECK(other_ran);
}
