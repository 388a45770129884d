// The parking harness: N coroutines each block in a call under test, and a releasing
// coroutine in the same thread makes them all ready 200 ms later. If the call blocked the
// thread instead of parking its coroutine, the releaser could not run: a watchdog thread
// then releases them after a few seconds, so the test fails on its checks instead of
// hanging until CTest kills it.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>

#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "watchdog.h"

namespace hooks_test {

inline constexpr int kN = 50;
inline constexpr std::int64_t kReleaseNs = 200'000'000;

struct Report {
  int ok = 0;
  int wrong = 0;
  int early = 0;               // returned before the release
  int entered_at_release = 0;  // coroutines inside the call when the releaser ran
  double elapsed = 0;
  bool rescued = false;  // the watchdog had to release them: the call blocked the thread
};

// run_variant: coroutine i runs blocked_call(i) (true when its result is right); a releaser
// coroutine sleeps 200 ms and calls release(i) for every i. release must only make syscalls
// on fds prepared beforehand (the watchdog may call it from another thread).
inline Report run_variant(
    const std::function<bool(int)>& blocked_call, const std::function<void(int)>& release,
    std::chrono::milliseconds watchdog_after = std::chrono::milliseconds(3000)) {
  Report r;
  hooks_test::Watchdog watchdog(watchdog_after, [&] {
    for (int i = 0; i < kN; ++i) release(i);
  });
  int entered = 0;
  const co::Deadline start = co::now_ns();
  for (int i = 0; i < kN; ++i) {
    co::go([&, i] {
      ++entered;
      const bool good = blocked_call(i);
      if (co::now_ns() - start < kReleaseNs - 10'000'000) ++r.early;
      ++(good ? r.ok : r.wrong);
    });
  }
  co::go([&] {
    ::usleep(200'000);
    r.entered_at_release = entered;
    for (int i = 0; i < kN; ++i) release(i);
  });
  co::run();
  r.elapsed = seconds_since(start);
  watchdog.stop();
  r.rescued = watchdog.fired();
  return r;
}

inline void check(const Report& r, const std::string& what) {
  INFO(what);
  CHECK_FALSE(r.rescued);
  CHECK(r.entered_at_release == kN);
  CHECK(r.ok == kN);
  CHECK(r.wrong == 0);
  CHECK(r.early == 0);
  CHECK(r.elapsed <
        0.8 * kSlack);  // 50 thread-blocking calls in a row: 10 s (or the watchdog's 3 s)
  MESSAGE(what << ": 50 blocked calls released after 200 ms in " << r.elapsed << " s");
}

}  // namespace hooks_test
