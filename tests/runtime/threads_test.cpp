// One scheduler per thread: threads running coroutines side by side (ping-pong over
// socketpairs through each thread's own netpoller), co::Executor handing work from one
// thread to another, and per-thread co::stats().
#include <doctest/doctest.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <latch>
#include <thread>
#include <vector>

#include "cofcgi/runtime.h"
#include "leak_check.h"
#include "sanitizers.h"

using namespace std::chrono_literals;

namespace {

// Read exactly n bytes from a non-blocking fd: read until EAGAIN, then park in wait_fd.
bool read_exact(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = ::read(fd, p, n);
    if (got > 0) {
      p += got;
      n -= static_cast<std::size_t>(got);
      continue;
    }
    if (got == 0 || errno != EAGAIN) return false;
    co::WakeReason reason;
    if (co::wait_fd(fd, POLLIN, co::deadline_after(20s), &reason) != 0) return false;
    if (reason != co::WakeReason::notified) return false;
  }
  return true;
}

bool write_all(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, n);
    if (put > 0) {
      p += put;
      n -= static_cast<std::size_t>(put);
      continue;
    }
    if (put == 0 || errno != EAGAIN) return false;
    co::WakeReason reason;
    if (co::wait_fd(fd, POLLOUT, co::deadline_after(20s), &reason) != 0) return false;
    if (reason != co::WakeReason::notified) return false;
  }
  return true;
}

struct PingPongResult {
  int pairs_done = 0;  // pingers that completed every round with correct replies
  int pongers_done = 0;
  std::size_t live_before_run = 0;
  std::size_t live_after_run = 0;
  std::size_t polled_during = 0;
  std::size_t polled_after = 0;
  bool ok = true;
};

// Runs on its own thread: `pairs` socketpairs, a pinger and a ponger coroutine on each.
void ping_pong_thread(int pairs, int rounds, PingPongResult* result) {
  std::vector<int> fds(2 * static_cast<std::size_t>(pairs), -1);
  for (int i = 0; i < pairs; ++i) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, &fds[2 * i]) != 0) {
      result->ok = false;
      return;
    }
  }
  co::Options options;
  options.stack_size = 64 * 1024;
  for (int i = 0; i < pairs; ++i) {
    const int a = fds[2 * i];
    const int b = fds[2 * i + 1];
    co::go(options, [a, rounds, i, result] {
      for (std::uint64_t r = 0; r < static_cast<std::uint64_t>(rounds); ++r) {
        const std::uint64_t ping = (static_cast<std::uint64_t>(i) << 32) | r;
        std::uint64_t pong = 0;
        if (!write_all(a, &ping, sizeof ping) || !read_exact(a, &pong, sizeof pong) ||
            pong != ping + 1) {
          result->ok = false;
          return;
        }
      }
      if (co::stats().polled_fds > result->polled_during)
        result->polled_during = co::stats().polled_fds;
      ++result->pairs_done;
    });
    co::go(options, [b, rounds, result] {
      for (int r = 0; r < rounds; ++r) {
        std::uint64_t v = 0;
        if (!read_exact(b, &v, sizeof v)) {
          result->ok = false;
          return;
        }
        ++v;
        if (!write_all(b, &v, sizeof v)) {
          result->ok = false;
          return;
        }
      }
      ++result->pongers_done;
    });
  }
  result->live_before_run = co::stats().live_coroutines;
  co::run();
  result->live_after_run = co::stats().live_coroutines;
  for (int fd : fds) {
    co::fd_closing(fd);
    ::close(fd);
  }
  result->polled_after = co::stats().polled_fds;
}

}  // namespace

TEST_CASE("threads: 4 threads, 500 coroutines each, ping-pong over socketpairs") {
  cofcgi_test::LeakCheck leaks;
  constexpr int kThreads = 4;
  constexpr int kPairs = 250;  // 500 coroutines per thread
  // What this proves is that nothing is lost, not how fast it goes (bench/micro/threads_bench
  // measures that): a lost wake-up fails read_exact/write_all through their 20 s deadline,
  // however slow the machine is. Under ThreadSanitizer each round costs far more, so fewer.
#if defined(COFCGI_TSAN)
  constexpr int kRounds = 20;
#else
  constexpr int kRounds = 200;
#endif
  const co::Stats main_before = co::stats();
  std::vector<PingPongResult> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back(ping_pong_thread, kPairs, kRounds, &results[t]);
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    CAPTURE(t);
    const PingPongResult& r = results[t];
    CHECK(r.ok);
    CHECK(r.pairs_done == kPairs);
    CHECK(r.pongers_done == kPairs);
    CHECK(r.live_before_run == 2 * kPairs);  // this thread's coroutines only
    CHECK(r.live_after_run == 0);
    CHECK(r.polled_during >= 2);
    CHECK(r.polled_during <= 2 * kPairs);
    CHECK(r.polled_after == 0);
  }
  // Nothing of it touched this thread's scheduler.
  const co::Stats main_after = co::stats();
  CHECK(main_after.live_coroutines == main_before.live_coroutines);
  CHECK(main_after.polled_fds == main_before.polled_fds);
  CHECK(main_after.stacks_in_use == main_before.stacks_in_use);
}

TEST_CASE(
    "threads: another thread posts 1000 functions to an Executor; they run as coroutines there") {
  cofcgi_test::LeakCheck leaks;
  constexpr int kPosts = 1000;
  struct Target {
    co::Executor executor;
    co::WaitGroup* all_arrived;  // lives on thread A, touched only there
  };
  std::promise<Target> target_promise;
  std::atomic<int> ran{0};
  std::atomic<int> ran_wrong_place{0};
  std::vector<std::atomic<int>> seen(kPosts);
  int waiter_saw = -1;
  std::size_t a_live_early = 0;
  std::thread::id a_id;

  std::thread a([&] {
    a_id = std::this_thread::get_id();
    co::WaitGroup all_arrived;
    all_arrived.add(kPosts);
    // A coroutine waits for all the posted work, so run() keeps A's loop going meanwhile.
    co::go([&] {
      all_arrived.wait();
      waiter_saw = ran.load();
    });
    co::go([&] {
      co::sleep_for(1ms);
      a_live_early = co::stats().live_coroutines;
    });
    target_promise.set_value(Target{co::Executor::current(), &all_arrived});
    co::run();  // returns when the waiter and every posted coroutine are done
  });

  const Target target = target_promise.get_future().get();
  std::thread b([&] {
    for (int i = 0; i < kPosts; ++i) {
      target.executor.post([&, i] {
        if (!co::in_coroutine() || std::this_thread::get_id() != a_id) ++ran_wrong_place;
        seen[static_cast<std::size_t>(i)].fetch_add(1);
        if (i % 3 == 0) co::yield();  // a real coroutine: it can switch away and come back
        if (i % 100 == 0) co::sleep_for(1ms);
        ++ran;
        target.all_arrived->done();  // thread A's WaitGroup: safe only because we run on A
      });
      if (i % 200 == 0) std::this_thread::sleep_for(2ms);  // arrive in several batches
    }
  });
  b.join();
  a.join();
  CHECK(ran.load() == kPosts);
  CHECK(ran_wrong_place.load() == 0);
  int exactly_once = 0;
  for (auto& s : seen) exactly_once += s.load() == 1;
  CHECK(exactly_once == kPosts);
  CHECK(waiter_saw == kPosts);
  CHECK(a_live_early >= 2);
}

TEST_CASE("threads: co::stats() is per thread") {
  cofcgi_test::LeakCheck leaks;
  const co::Stats main_before = co::stats();
  std::latch spawned(1);
  std::latch checked(1);
  co::Stats t_fresh;
  co::Stats t_spawned;
  co::Stats t_parked;
  co::Stats t_after;
  std::thread t([&] {
    t_fresh = co::stats();
    for (int i = 0; i < 7; ++i) co::go([] { co::sleep_for(20ms); });
    co::go([&] {
      co::yield();  // the sleepers parked meanwhile
      t_parked = co::stats();
    });
    t_spawned = co::stats();
    spawned.count_down();
    checked.wait();  // main looks at its own stats while ours are non-zero
    co::run();
    t_after = co::stats();
  });
  spawned.wait();
  const co::Stats main_during = co::stats();
  checked.count_down();
  t.join();
  CHECK(t_fresh.live_coroutines == 0);
  CHECK(t_fresh.ready == 0);
  CHECK(t_fresh.pending_timers == 0);
  CHECK(t_fresh.stacks_in_use == 0);
  CHECK(t_spawned.live_coroutines == 8);
  CHECK(t_spawned.ready == 8);
  CHECK(t_spawned.stacks_in_use == 8);
  CHECK(t_parked.pending_timers == 7);
  CHECK(t_parked.live_coroutines == 8);
  CHECK(t_after.live_coroutines == 0);
  CHECK(t_after.ready == 0);
  CHECK(t_after.pending_timers == 0);
  CHECK(t_after.stacks_in_use == 0);
  CHECK(main_during.live_coroutines == main_before.live_coroutines);
  CHECK(main_during.ready == main_before.ready);
  CHECK(main_during.pending_timers == main_before.pending_timers);
  CHECK(main_during.stacks_in_use == main_before.stacks_in_use);
}
