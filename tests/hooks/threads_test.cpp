// Several threads, each with its own scheduler, using the hooks at once: the fd table is
// shared (lock-free), the netpollers are not. 4 threads x 500 coroutines play ping-pong
// with plain blocking read/write on socketpairs. Every socket has SO_RCVTIMEO 10 s, so a lost
// wake-up shows as a timed-out read (and a failed check), not as a hang.
// Results cross threads only through join(), so the test itself is TSan-clean.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"

using hooks_test::Fd;

namespace {

constexpr int kThreads = 4;
constexpr int kPairsPerThread = 250;  // 500 coroutines per thread
// gcc says __SANITIZE_THREAD__, clang 14 only __has_feature(thread_sanitizer).
#if defined(__SANITIZE_THREAD__)
#define COFCGI_THREADS_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COFCGI_THREADS_TEST_TSAN 1
#endif
#endif
#if defined(COFCGI_THREADS_TEST_TSAN)
constexpr int kRounds = 10;  // TSan makes every switch and syscall far slower
#else
constexpr int kRounds = 100;
#endif

struct ThreadResult {
  int completed = 0;  // coroutines that finished every round
  int errors = 0;     // reads/writes that failed (a timeout here is a lost wake-up)
  int wrong = 0;      // a reply that was not ping + 1
  int leaked_coroutines = 0;
};

void ensure_fd_limit(rlim_t wanted) {
  rlimit rl{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur < wanted && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max < wanted ? rl.rlim_max : wanted;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);
  }
  REQUIRE(rl.rlim_cur >= wanted);
}

hooks_test::Pair timed_pair() {
  auto p = hooks_test::socket_pair();
  const timeval tv{10, 0};
  REQUIRE(::setsockopt(p.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  REQUIRE(::setsockopt(p.b.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  return p;
}

// pinger sends n, expects n + 1, kRounds times; ponger answers each n with n + 1.
void pinger(int fd, std::uint64_t base, ThreadResult* res) {
  for (int r = 0; r < kRounds; ++r) {
    const std::uint64_t ping = base + static_cast<std::uint64_t>(r) * 2;
    std::uint64_t pong = 0;
    if (::write(fd, &ping, sizeof ping) != sizeof ping ||
        ::read(fd, &pong, sizeof pong) != sizeof pong) {
      ++res->errors;
      return;
    }
    if (pong != ping + 1) ++res->wrong;
  }
  ++res->completed;
}

void ponger(int fd, ThreadResult* res) {
  for (int r = 0; r < kRounds; ++r) {
    std::uint64_t v = 0;
    if (::read(fd, &v, sizeof v) != sizeof v) {
      ++res->errors;
      return;
    }
    ++v;
    if (::write(fd, &v, sizeof v) != sizeof v) {
      ++res->errors;
      return;
    }
  }
  ++res->completed;
}

}  // namespace

TEST_CASE(
    "threads: 4 schedulers x 500 coroutines of blocking ping-pong, no crash, no lost wake-up") {
  ensure_fd_limit(4 * kThreads * kPairsPerThread + 256);
  const int fds_before = cofcgi_test::count_open_fds();
  std::array<ThreadResult, kThreads> results{};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &results] {
      ThreadResult& res = results[t];
      const co::Stats before = co::stats();
      {
        std::vector<hooks_test::Pair> pairs;  // made on this thread, before its coroutines
        for (int i = 0; i < kPairsPerThread; ++i) pairs.push_back(timed_pair());
        for (int i = 0; i < kPairsPerThread; ++i) {
          const std::uint64_t base =
              (static_cast<std::uint64_t>(t) << 40) | (static_cast<std::uint64_t>(i) << 16);
          co::go([fd = pairs[i].a.get(), base, &res] { pinger(fd, base, &res); });
          co::go([fd = pairs[i].b.get(), &res] { ponger(fd, &res); });
        }
        co::run();
      }
      res.leaked_coroutines =
          static_cast<int>(co::stats().live_coroutines - before.live_coroutines);
    });
  }
  for (auto& th : threads) th.join();
  // No time bound: a lost wake-up shows as a timed-out read (SO_RCVTIMEO) in `errors`, however
  // slow the machine; the speed is bench/micro/threads_bench's to measure.
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(results[t].completed == 2 * kPairsPerThread);
    CHECK(results[t].errors == 0);
    CHECK(results[t].wrong == 0);
    CHECK(results[t].leaked_coroutines == 0);
  }
  CHECK(cofcgi_test::count_open_fds() == fds_before);
}

TEST_CASE("threads: ping-pong across threads: each end parks in its own thread's netpoller") {
  // Coroutine i of thread t talks to coroutine i of thread t+1 (a ring), so every socketpair
  // is registered with two different epoll instances, and fds are created on one thread and
  // used on another.
  constexpr int kPerThread = 100;
  ensure_fd_limit(4 * kThreads * kPerThread + 256);
  const int fds_before = cofcgi_test::count_open_fds();
  std::vector<hooks_test::Pair> pairs;  // pair k = t * kPerThread + i: t pings, t+1 pongs
  for (int k = 0; k < kThreads * kPerThread; ++k) pairs.push_back(timed_pair());
  std::array<ThreadResult, kThreads> results{};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &results, &pairs] {
      ThreadResult& res = results[t];
      const int prev = (t + kThreads - 1) % kThreads;
      for (int i = 0; i < kPerThread; ++i) {
        const int mine = pairs[t * kPerThread + i].a.get();
        const int theirs = pairs[prev * kPerThread + i].b.get();
        const std::uint64_t base =
            (static_cast<std::uint64_t>(t) << 40) | (static_cast<std::uint64_t>(i) << 16);
        co::go([mine, base, &res] { pinger(mine, base, &res); });
        co::go([theirs, &res] { ponger(theirs, &res); });
      }
      co::run();
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(results[t].completed == 2 * kPerThread);
    CHECK(results[t].errors == 0);
    CHECK(results[t].wrong == 0);
  }
  pairs.clear();
  CHECK(cofcgi_test::count_open_fds() == fds_before);
}
