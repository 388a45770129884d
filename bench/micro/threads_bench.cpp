// threads_bench: round trips per second of many coroutine ping-pongs on several threads at
// once, each thread with its own scheduler and netpoller. This is the speed figure of the
// shape tests/runtime/threads_test.cpp and tests/hooks/threads_test.cpp run; the tests prove
// only that nothing is lost (no time bound: under a sanitizer on a busy machine they may be
// slow), the figure lives here.
//
// Cases, all in the same repetition loop (THREADS threads, PAIRS socketpairs per thread, a
// pinger and a ponger on each, ROUNDS round trips of 8 bytes per pair):
//   (a) runtime: non-blocking socketpairs, read/write until EAGAIN, then co::wait_fd
//   (b) hooks:   blocking-style read/write through the hooks (cofcgi::hooks), co::go
//   (c) threads: the peer, plain blocking read/write with one OS thread per end (2 x PAIRS
//                per thread slot; the kernel schedules them)
// Reported: round trips per second over the whole run (all threads), the median of the
// repetitions, and (a)/(c), (b)/(c).
//
// Usage: threads_bench [--reps 5] [--iters ROUNDS] [--threads 4] [--pairs 250]
// Run on the cores the threads should use (unpinned, or taskset -c 0,1).
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "cofcgi/hooks/hooks.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/scheduler.h"

namespace {

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

// Each end of the ping-pong transfers one 8-byte word per direction per round: a short
// read or write never happens on an AF_UNIX stream socket with room for it.
bool runtime_io(int fd, std::uint64_t* v, bool is_read) {
  for (;;) {
    const ssize_t n = is_read ? ::read(fd, v, sizeof *v) : ::write(fd, v, sizeof *v);
    if (n == static_cast<ssize_t>(sizeof *v)) return true;
    if (n >= 0 || errno != EAGAIN) return false;
    co::WakeReason reason;
    if (co::wait_fd(fd, is_read ? POLLIN : POLLOUT, co::kNoDeadline, &reason) != 0) return false;
  }
}

bool blocking_io(int fd, std::uint64_t* v, bool is_read) {
  for (;;) {
    const ssize_t n = is_read ? ::read(fd, v, sizeof *v) : ::write(fd, v, sizeof *v);
    if (n == static_cast<ssize_t>(sizeof *v)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

using Io = bool (*)(int, std::uint64_t*, bool);

void pinger(Io io, int fd, long rounds) {
  for (long r = 0; r < rounds; ++r) {
    std::uint64_t v = static_cast<std::uint64_t>(r);
    if (!io(fd, &v, false) || !io(fd, &v, true) || v != static_cast<std::uint64_t>(r) + 1)
      die("pinger");
  }
}

void ponger(Io io, int fd, long rounds) {
  for (long r = 0; r < rounds; ++r) {
    std::uint64_t v = 0;
    if (!io(fd, &v, true)) die("ponger");
    ++v;
    if (!io(fd, &v, false)) die("ponger");
  }
}

std::vector<int> make_pairs(int pairs, int flags) {
  std::vector<int> fds(2 * static_cast<std::size_t>(pairs));
  for (int i = 0; i < pairs; ++i) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0, &fds[2 * i]) != 0)
      die("socketpair");
  }
  return fds;
}

void close_all(const std::vector<int>& fds) {
  for (int fd : fds) {
    co::fd_closing(fd);
    ::close(fd);
  }
}

enum class Mode { runtime, hooks, threads };

// One thread slot: its socketpairs and either coroutines on its scheduler or OS threads.
void thread_slot(Mode mode, int pairs, long rounds, const std::vector<int>& fds) {
  if (mode == Mode::threads) {
    std::vector<std::thread> ends;
    for (int i = 0; i < pairs; ++i) {
      ends.emplace_back(pinger, &blocking_io, fds[2 * i], rounds);
      ends.emplace_back(ponger, &blocking_io, fds[2 * i + 1], rounds);
    }
    for (std::thread& t : ends) t.join();
    return;
  }
  co::Options options;
  options.stack_size = 64 * 1024;
  const Io io = mode == Mode::runtime ? &runtime_io : &blocking_io;
  for (int i = 0; i < pairs; ++i) {
    const int a = fds[2 * i];
    const int b = fds[2 * i + 1];
    co::go(options, [io, a, rounds] { pinger(io, a, rounds); });
    co::go(options, [io, b, rounds] { ponger(io, b, rounds); });
  }
  co::run();
}

// Round trips per second, all threads together. Socketpairs are made before the clock
// starts, on the thread that uses them.
double run_case(Mode mode, int threads, int pairs, long rounds) {
  std::vector<std::vector<int>> fds(static_cast<std::size_t>(threads));
  const int flags = mode == Mode::runtime ? SOCK_NONBLOCK : 0;
  for (auto& f : fds) f = make_pairs(pairs, flags);
  const std::int64_t t0 = bench::now_ns();
  std::vector<std::thread> slots;
  for (int t = 0; t < threads; ++t)
    slots.emplace_back(thread_slot, mode, pairs, rounds, std::cref(fds[t]));
  for (std::thread& t : slots) t.join();
  const std::int64_t t1 = bench::now_ns();
  for (auto& f : fds) close_all(f);
  const double trips = static_cast<double>(threads) * pairs * static_cast<double>(rounds);
  return trips / (static_cast<double>(t1 - t0) / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(
      argc, argv, "threads_bench [--reps N] [--iters ROUNDS] [--threads T] [--pairs P]");
  const long rounds = args.iters > 0 ? args.iters : 200;
  int threads = 4;
  int pairs = 250;
  for (std::size_t i = 0; i + 1 < args.flags.size(); ++i) {
    if (args.flags[i] == "--threads") threads = std::atoi(args.flags[i + 1].c_str());
    if (args.flags[i] == "--pairs") pairs = std::atoi(args.flags[i + 1].c_str());
  }
  if (threads < 1 || pairs < 1) die("threads_bench: --threads and --pairs must be >= 1");
  bench::print_header("threads: round trips per second, many ping-pongs on several threads", args);
  std::printf(
      "%d threads x %d socketpairs x %ld round trips of 8 bytes per case and repetition\n\n",
      threads, pairs, rounds);

  enum { kRuntime, kHooks, kThreads, kCount };
  std::vector<bench::Row> rows(kCount);
  rows[kRuntime] = {
      "(a) coroutines, co::wait_fd (tests/runtime/threads_test)", {}, "non-blocking fds"};
  rows[kHooks] = {"(b) coroutines, hooked blocking read/write (tests/hooks/threads_test)", {}, ""};
  rows[kThreads] = {"(c) OS threads, blocking read/write (peer)",
                    {},
                    std::to_string(2 * pairs * threads) + " threads"};
  for (int rep = 0; rep < args.reps; ++rep) {
    rows[kRuntime].samples.push_back(run_case(Mode::runtime, threads, pairs, rounds));
    rows[kHooks].samples.push_back(run_case(Mode::hooks, threads, pairs, rounds));
    rows[kThreads].samples.push_back(run_case(Mode::threads, threads, pairs, rounds));
  }
  bench::print_table("round trips/s", rows);
  const double peer = bench::median(rows[kThreads].samples);
  std::printf("| ratio | value |\n| --- | ---: |\n");
  std::printf("| (a) / (c) | %.2f |\n", bench::median(rows[kRuntime].samples) / peer);
  std::printf("| (b) / (c) | %.2f |\n\n", bench::median(rows[kHooks].samples) / peer);
  return 0;
}
