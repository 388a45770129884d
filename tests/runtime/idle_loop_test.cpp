// An idle scheduler sleeps in epoll_wait until its next timer or event: no periodic wake-ups
// (libco's loop wakes every millisecond). Timers run on the monotonic clock.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <thread>

#include "co_routine.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"

namespace {

using Clock = std::chrono::steady_clock;

long voluntary_switches() {
  rusage ru{};
  REQUIRE(getrusage(RUSAGE_THREAD, &ru) == 0);
  return ru.ru_nvcsw;
}

long elapsed_ms(Clock::time_point since) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

}  // namespace

TEST_CASE("idle loop: one coroutine sleeping 600 ms costs only a few wake-ups") {
  cofcgi_test::LeakCheck leaks;
  bool woke = false;
  co::go([&] {
    co::sleep_for(std::chrono::milliseconds(600));
    woke = true;
  });
  const long before = voluntary_switches();
  const auto start = Clock::now();
  co::run();
  const long ms = elapsed_ms(start);
  const long switches = voluntary_switches() - before;
  MESSAGE("co::run() for " << ms << " ms: " << switches << " voluntary context switches");
  CHECK(woke);
  CHECK(ms >= 600);
  CHECK(switches < 20);  // a 1 ms tick (libco) would be ~600
}

TEST_CASE("idle loop: co_eventloop calls pfn only when something happened") {
  cofcgi_test::LeakCheck leaks;
  struct State {
    stCoCond_t* cond;
    int pfn_calls = 0;
    bool done = false;
  } st{co_cond_alloc()};
  stCoRoutine_t* co = nullptr;
  REQUIRE(co_create(
              &co, nullptr,
              +[](void* arg) -> void* {
                auto* s = static_cast<State*>(arg);
                (void)co_cond_timedwait(s->cond, 600);
                s->done = true;
                return nullptr;
              },
              &st) == 0);
  co_resume(co);
  const long before = voluntary_switches();
  co_eventloop(
      co_get_epoll_ct(),
      +[](void* arg) -> int {
        auto* s = static_cast<State*>(arg);
        ++s->pfn_calls;
        return s->done ? -1 : 0;
      },
      &st);
  const long switches = voluntary_switches() - before;
  CHECK(st.done);
  CHECK(st.pfn_calls < 20);
  CHECK(switches < 20);
  co_release(co);
  co_cond_free(st.cond);
}

TEST_CASE("idle loop: a post from another thread wakes the sleeping loop at once") {
  cofcgi_test::LeakCheck leaks;
  bool sleeper_woke = false;
  bool posted_ran = false;
  bool posted_ran_first = false;
  // The sleeper keeps the loop in epoll_wait for 500 ms; the post, 20 ms in, must not wait
  // for it.
  co::go([&] {
    co::sleep_for(std::chrono::milliseconds(500));
    sleeper_woke = true;
  });
  const co::Executor exec = co::Executor::current();
  const long before = voluntary_switches();
  const auto start = Clock::now();
  std::thread poster([exec, &posted_ran, &posted_ran_first, &sleeper_woke] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    exec.post([&] {
      posted_ran = true;
      posted_ran_first = !sleeper_woke;
    });
  });
  co::run();
  poster.join();
  const long ms = elapsed_ms(start);
  CHECK(posted_ran);
  CHECK(posted_ran_first);
  CHECK(sleeper_woke);
  CHECK(ms >= 500);
  CHECK(ms < 3000);
  CHECK(voluntary_switches() - before < 20);
}

TEST_CASE("timers: sleep_for measures on the monotonic clock") {
  cofcgi_test::LeakCheck leaks;
  long slept_ms = -1;
  long until_ms = -1;
  co::go([&] {
    const auto start = Clock::now();
    co::sleep_for(std::chrono::milliseconds(100));
    slept_ms = elapsed_ms(start);
    const auto start2 = Clock::now();
    co::sleep_until(co::now_ns() + 50'000'000);
    until_ms = elapsed_ms(start2);
  });
  co::run();
  CHECK(slept_ms >= 100);
  CHECK(slept_ms < 1000);
  CHECK(until_ms >= 50);
  CHECK(until_ms < 1000);
  // co::now_ns is CLOCK_MONOTONIC (CLOCK_REALTIME is decades away from it).
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  const long long mono_ns = static_cast<long long>(mono.tv_sec) * 1'000'000'000 + mono.tv_nsec;
  const long long diff = co::now_ns() - mono_ns;
  CHECK(diff >= 0);
  CHECK(diff < 1'000'000'000);
}
