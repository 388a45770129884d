// hooks_bench: what the libc hooks (cofcgi::hooks, libcofcgi_hooks.so) cost.
//
// (a) ping-pong: 64-byte messages over an AF_UNIX socketpair, plain blocking-style
//     read()/write() (the sockets stay blocking; the hooks turn EAGAIN into a park).
//       - two co::go coroutines on one thread, hooks on: each read that finds nothing
//         parks the coroutine on the netpoller, the other one runs;
//       - two std::threads with the same plain blocking read()/write(): outside any
//         coroutine the hooks pass through, so the kernel blocks and wakes the threads.
//     Reported as round trips per second (one round trip = 2 writes + 2 reads of 64 B).
//     Both run in the same process, inside the same repetition loop.
//
// (b) overhead of a hook on a call that does not block, ns per call:
//       write() of 1 byte to a socket with room, read() of 1 byte of data already queued.
//     Variants, interleaved batch by batch (each batch: K calls timed together, then the
//     peer side drained / refilled untimed, so the socket never fills or runs dry):
//       syscall(SYS_write/SYS_read)       no libc, no hook
//       libc write/read                   libc's own entry point (dlsym on libc.so.6), no hook
//       libc send/recv(MSG_DONTWAIT)      libc, no hook: the kernel path the hook takes
//       hooked, outside any coroutine     the hook passes through (no coroutine)
//       hooked, coroutine, hooks off      co::hooks::ScopedDisable (co_disable_hook_sys)
//       hooked, coroutine, hooks on       the full hook: fd-table lookup, send/recv with
//                                         MSG_DONTWAIT, errno bookkeeping
//     Per repetition each variant's figure is the median batch (ns/call); the table shows the
//     median over repetitions, and the notes the fastest batches (the floor, least disturbed
//     by other load).
//     "added" = hooks on - libc write/read (what a user sees: same call, with vs without the
//     hook library). The kernel path differs (write vs send), so "user-space part" = hooks on
//     - libc send/recv(MSG_DONTWAIT) is shown as well.
//     Both tables are measured twice: first while the process is single-threaded, then after
//     a std::thread has run. glibc's wrappers are cheapest in a process that never had a
//     thread; afterwards each also switches the cancellation state around the syscall (~40 ns
//     here), and that serialising work hides much of the hook's own cost. The single-threaded
//     table is the conservative figure (the ping-pong runs last for this reason).
//
// Usage: hooks_bench [--reps 7] [--iters N] [--only pingpong|overhead|pingpong-co]
//   --iters: round trips per ping-pong case (default 100000) and calls per overhead
//   variant (default 200000).
//   --only pingpong-co: the coroutine ping-pong alone, once (for strace -c / callgrind).
// Run pinned: taskset -c 0 hooks_bench   (the thread peer then shares one core, as the
// coroutines do). On a shared, loaded machine, `chrt -f 1 taskset -c 0 hooks_bench` (root)
// keeps other jobs from delaying the wake-ups of the ping-pong (bench/README.md).
#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "cofcgi/hooks/hooks.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/scheduler.h"

namespace {

constexpr std::size_t kMsg = 64;

void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

struct Pair {
  int fd[2] = {-1, -1};
  Pair() {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0) die("socketpair");
  }
  ~Pair() {
    close(fd[0]);
    close(fd[1]);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
};

// Blocking-style full read/write through the (possibly hooked) libc names.
void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) die("read: EOF");
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

// The client side: write a message, read the echo, `n` times.
void ping(int fd, long n) {
  char buf[kMsg];
  std::memset(buf, 'p', sizeof buf);
  for (long i = 0; i < n; ++i) {
    write_all(fd, buf, kMsg);
    read_all(fd, buf, kMsg);
  }
}

void pong(int fd, long n) {
  char buf[kMsg];
  for (long i = 0; i < n; ++i) {
    read_all(fd, buf, kMsg);
    write_all(fd, buf, kMsg);
  }
}

// Round trips per second, two coroutines on this thread.
double pingpong_coroutines(long n) {
  Pair p;
  std::int64_t t0 = 0, t1 = 0;
  co::go([&] {
    if (!co::hooks_active()) die("hooks not active in co::go");
    t0 = bench::now_ns();
    ping(p.fd[0], n);
    t1 = bench::now_ns();
  });
  co::go([&] { pong(p.fd[1], n); });
  co::run();
  return n / ((t1 - t0) / 1e9);
}

// Round trips per second, two threads with blocking sockets (the hooks pass through).
double pingpong_threads(long n) {
  Pair p;
  std::thread server([&] { pong(p.fd[1], n); });
  const std::int64_t t0 = bench::now_ns();
  ping(p.fd[0], n);
  const std::int64_t t1 = bench::now_ns();
  server.join();
  return n / ((t1 - t0) / 1e9);
}

// ---- (b) overhead ----------------------------------------------------------------------

using WriteFn = ssize_t (*)(int, const void*, size_t);
using ReadFn = ssize_t (*)(int, void*, size_t);
using SendFn = ssize_t (*)(int, const void*, size_t, int);
using RecvFn = ssize_t (*)(int, void*, size_t, int);

WriteFn libc_write;
ReadFn libc_read;
SendFn libc_send;
RecvFn libc_recv;

void resolve_libc() {
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (libc == nullptr) die("dlopen libc.so.6");
  libc_write = reinterpret_cast<WriteFn>(dlsym(libc, "write"));
  libc_read = reinterpret_cast<ReadFn>(dlsym(libc, "read"));
  libc_send = reinterpret_cast<SendFn>(dlsym(libc, "send"));
  libc_recv = reinterpret_cast<RecvFn>(dlsym(libc, "recv"));
  if (!libc_write || !libc_read || !libc_send || !libc_recv) die("dlsym libc");
  // Make sure the plain names really reach the hooks (the benchmark would be meaningless).
  if (reinterpret_cast<void*>(libc_write) == reinterpret_cast<void*>(&::write)) {
    std::fprintf(stderr, "hooks_bench: write() resolves to libc: hooks library not linked first\n");
    std::exit(1);
  }
}

enum Variant { kSyscall, kLibc, kLibcDontwait, kHookOutside, kHookOff, kHookOn, kVariants };
const char* const kVariantName[kVariants] = {
    "syscall(SYS_...) directly",
    "libc (no hook)",
    "libc send/recv(MSG_DONTWAIT) (no hook; the hook's kernel path)",
    "hooked, outside any coroutine (pass-through)",
    "hooked, coroutine, hooks off (ScopedDisable)",
    "hooked, coroutine, hooks on",
};
// Where each variant runs: all inside a coroutine (hooks on unless ScopedDisable), except
// kHookOutside, on the thread's own stack.
bool in_coroutine_variant(int v) { return v != kHookOutside; }

constexpr int kBatch = 64;  // 1-byte writes queued per batch (278 fit in a socketpair here)

inline void do_write(int v, int fd, const char* b) {
  ssize_t r;
  switch (v) {
    case kSyscall: r = syscall(SYS_write, fd, b, 1); break;
    case kLibc: r = libc_write(fd, b, 1); break;
    case kLibcDontwait: r = libc_send(fd, b, 1, MSG_DONTWAIT); break;
    default: r = write(fd, b, 1); break;
  }
  if (__builtin_expect(r != 1, 0)) die("overhead write");
}

inline void do_read(int v, int fd, char* b) {
  ssize_t r;
  switch (v) {
    case kSyscall: r = syscall(SYS_read, fd, b, 1); break;
    case kLibc: r = libc_read(fd, b, 1); break;
    case kLibcDontwait: r = libc_recv(fd, b, 1, MSG_DONTWAIT); break;
    default: r = read(fd, b, 1); break;
  }
  if (__builtin_expect(r != 1, 0)) die("overhead read");
}

void drain(int fd, int n) {  // untimed: the peer reads what the batch wrote
  char buf[kBatch];
  while (n > 0) {
    const long r = syscall(SYS_read, fd, buf, n);
    if (r <= 0) die("drain");
    n -= static_cast<int>(r);
  }
}

void refill(int fd, int n) {  // untimed: the peer queues n 1-byte messages
  const char b = 'r';
  for (int i = 0; i < n; ++i) {
    if (syscall(SYS_write, fd, &b, 1) != 1) die("refill");
  }
}

// Times one batch of `variant` (write or read) and returns its ns.
std::int64_t batch(bool is_write, int v, int fd, int peer) {
  char b = 'w';
  if (!is_write) refill(peer, kBatch);
  const std::int64_t t0 = bench::now_ns();
  if (is_write) {
    for (int i = 0; i < kBatch; ++i) do_write(v, fd, &b);
  } else {
    for (int i = 0; i < kBatch; ++i) do_read(v, fd, &b);
  }
  const std::int64_t t = bench::now_ns() - t0;
  if (is_write) drain(peer, kBatch);
  return t;
}

// One repetition: every variant interleaved batch by batch (the order rotating from batch
// to batch). Returns, per variant, ns per call of the median batch and of the fastest batch:
// on a shared machine a batch hit by preemption or an interrupt is an outlier, which the
// median ignores; the fastest batch is the floor.
struct RepResult {
  std::vector<double> median_ns, min_ns;
};

RepResult overhead_rep(bool is_write, long calls) {
  Pair p;
  const int fd = p.fd[0], peer = p.fd[1];
  const long batches = std::max(1L, calls / kBatch);
  std::vector<std::vector<double>> times(kVariants);
  for (auto& t : times) t.reserve(static_cast<std::size_t>(batches));
  long rotation = 0;
  auto run_batches = [&](bool in_co, long count, bool record) {
    for (long i = 0; i < count; ++i, ++rotation) {
      for (int k = 0; k < kVariants; ++k) {
        const int v = static_cast<int>((k + rotation) % kVariants);
        if (in_coroutine_variant(v) != in_co) continue;
        std::int64_t t;
        if (v == kHookOff) {
          const co::hooks::ScopedDisable off;
          t = batch(is_write, v, fd, peer);
        } else {
          t = batch(is_write, v, fd, peer);
        }
        if (record) times[v].push_back(static_cast<double>(t) / kBatch);
      }
    }
  };
  // The coroutine variants and the thread-stack variant cannot interleave batch by batch
  // (one needs a coroutine, the other must be outside), so they alternate in chunks.
  constexpr long kChunk = 16;
  // Warm-up: the first hooked call learns the fd (fstat + F_GETFL).
  co::go([&] {
    if (!co::hooks_active()) die("hooks not active in co::go");
    run_batches(true, 4, false);
  });
  co::run();
  run_batches(false, 4, false);
  for (long done = 0; done < batches; done += kChunk) {
    const long n = std::min(kChunk, batches - done);
    co::go([&] { run_batches(true, n, true); });
    co::run();
    run_batches(false, n, true);
  }
  RepResult r;
  for (int v = 0; v < kVariants; ++v) {
    r.median_ns.push_back(bench::median(times[v]));
    r.min_ns.push_back(bench::min_of(times[v]));
  }
  return r;
}

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

// Measures and prints one overhead table (write or read) with every variant.
void overhead_table(const bench::Args& a, long calls, bool is_write, const char* mode) {
  const std::string title =
      std::string(is_write
                      ? "hooks: overhead on a write() of 1 byte to a socket with room (ns/call)"
                      : "hooks: overhead on a read() of 1 byte of queued data (ns/call)") +
      mode;
  bench::print_header(title.c_str(), a);
  std::printf(
      "%ld calls per variant per repetition, in batches of %d (the peer drained/refilled "
      "between batches, untimed).\n\n",
      calls, kBatch);
  std::vector<bench::Row> rows(kVariants);
  for (int v = 0; v < kVariants; ++v) rows[v].name = kVariantName[v];
  bench::Row added{"added by the hook: hooks on - libc (no hook)", {}, ""};
  bench::Row added_user{"user-space part: hooks on - libc send/recv(MSG_DONTWAIT)", {}, ""};
  bench::Row added_off{"hooks off - libc (no hook)", {}, ""};
  std::vector<double> floor_on, floor_libc, floor_dw, floor_off;
  for (int r = 0; r < a.reps; ++r) {
    const RepResult res = overhead_rep(is_write, calls);
    const std::vector<double>& ns = res.median_ns;
    for (int v = 0; v < kVariants; ++v) rows[v].samples.push_back(ns[v]);
    added.samples.push_back(ns[kHookOn] - ns[kLibc]);
    added_user.samples.push_back(ns[kHookOn] - ns[kLibcDontwait]);
    added_off.samples.push_back(ns[kHookOff] - ns[kLibc]);
    floor_on.push_back(res.min_ns[kHookOn]);
    floor_libc.push_back(res.min_ns[kLibc]);
    floor_dw.push_back(res.min_ns[kLibcDontwait]);
    floor_off.push_back(res.min_ns[kHookOff]);
  }
  const double f_on = bench::min_of(floor_on), f_libc = bench::min_of(floor_libc),
               f_dw = bench::min_of(floor_dw), f_off = bench::min_of(floor_off);
  added.note = "target < 30 ns; fastest batches: " + fmt("%.1f", f_on) + " - " +
               fmt("%.1f", f_libc) + " = " + fmt("%.1f", f_on - f_libc);
  added_user.note = "same kernel path; fastest batches: " + fmt("%.1f", f_on - f_dw);
  added_off.note = "pass-through cost; fastest batches: " + fmt("%.1f", f_off - f_libc);
  rows.push_back(added);
  rows.push_back(added_user);
  rows.push_back(added_off);
  bench::print_table("ns/call", rows);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(
      argc, argv, "hooks_bench [--reps 7] [--iters N] [--only pingpong|overhead]");
  bench::Args a = args;
  bool reps_given = false;
  for (int i = 1; i < argc; ++i) reps_given = reps_given || std::strcmp(argv[i], "--reps") == 0;
  if (!reps_given) a.reps = 7;
  // --only pingpong-co: just the coroutine ping-pong, once, no peer (for strace/callgrind).
  if (args.has("pingpong-co")) {
    resolve_libc();
    const long n = a.iters > 0 ? a.iters : 100000;
    std::printf("coroutine ping-pong: %.0f round trips/s\n", pingpong_coroutines(n));
    return 0;
  }
  const bool only_pp = args.has("pingpong");
  const bool only_oh = args.has("overhead");
  const bool do_pp = !only_oh, do_oh = !only_pp;
  resolve_libc();

  if (do_oh) {
    const long calls = a.iters > 0 ? a.iters : 200000;
    // Twice: while the process is still single-threaded, then after a thread has existed.
    // glibc's syscall wrappers (write, read, send, recv) are cheapest in a process that never
    // started a thread; once one has, every wrapper also flips the thread's cancellation
    // state around the syscall (~40 ns here), for the libc rows and the hooks alike.
    for (const bool multi_threaded : {false, true}) {
      if (multi_threaded) std::thread([] {}).join();
      const char* const mode =
          multi_threaded ? ", process with threads" : ", single-threaded process";
      overhead_table(a, calls, true, mode);
      overhead_table(a, calls, false, mode);
    }
  }
  if (do_pp) {
    const long n = a.iters > 0 ? a.iters : 100000;
    bench::print_header("hooks: ping-pong, 64-byte messages over a socketpair (round trips/s)", a);
    std::printf("%ld round trips per case per repetition.\n\n", n);
    std::vector<bench::Row> rows(2);
    rows[0] = {"cofcgi: 2 co::go coroutines, 1 thread, hooked blocking read/write", {}, ""};
    rows[1] = {"peer: 2 std::threads, blocking read/write (hooks pass through)", {}, ""};
    std::vector<double> ratio;
    pingpong_coroutines(n / 10);  // warm-up
    pingpong_threads(n / 10);
    for (int r = 0; r < a.reps; ++r) {
      const double c = pingpong_coroutines(n);
      const double t = pingpong_threads(n);
      rows[0].samples.push_back(c);
      rows[1].samples.push_back(t);
      ratio.push_back(c / t);
    }
    rows[0].note =
        "ratio to threads " + fmt("%.2f", bench::median(ratio)) + " (median of per-rep ratios)";
    bench::print_table("round trips/s", rows);
  }

  return 0;
}
