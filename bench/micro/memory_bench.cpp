// memory_bench: resident memory per parked coroutine. RSS (/proc/self/statm) is read
// before the coroutines are created and after every one of them has run and parked; the
// figure is delta RSS / N. Everything a coroutine costs is in it: control block, task
// object, touched stack pages (private) or the saved copy of its stack (shared), heap
// overhead. Each case runs in a fresh child process (fork), so that memory freed by an
// earlier case and kept by malloc cannot hide the next case's growth. Kernel page tables
// (VmPTE) are not part of RSS; their growth is shown in the note.
//
// Cases:
//   private, co::go + WaitGroup::wait     100k, 128 KiB private stacks
//   private, libco co_create + co_yield_ct  100k, 128 KiB private stacks
//   shared,  co::go + WaitGroup::wait     1M on a group of 16 shared 128 KiB stacks
//   shared,  libco co_yield_ct            1M, same group size
//   shared,  co::go + WaitGroup::wait     10M, only with --10m (needs ~10+ GiB)
//   shared,  co::go + hooked read()       100k parked in read() on one blocking socket: what
//                                         a parked connection's coroutine costs (issue 15)
//
// Usage: memory_bench [--reps 3] [--private N] [--shared N] [--10m] [--only-10m]
// Run pinned: taskset -c 0 memory_bench
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"
#include "co_routine.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/options.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/wait_group.h"
#include "coroutine.h"  // white-box: sizeof(Coroutine), saved stack sizes

namespace {

constexpr std::size_t kStackSize = 128 * 1024;
constexpr int kSharedStacks = 16;

long rss_bytes() {
  long pages_total = 0, pages_resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return pages_resident * sysconf(_SC_PAGESIZE);
}

// VmPTE from /proc/self/status, bytes (page tables: kernel memory, not in RSS).
long pte_bytes() {
  long kb = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "VmPTE: %ld kB", &kb) == 1) break;
    }
    std::fclose(f);
  }
  return kb * 1024;
}

struct Result {
  double bytes_per_co = 0;
  double ns_per_co = 0;   // create + run until parked
  double saved_avg = 0;   // shared stacks: average saved stack copy, bytes
  double pte_per_co = 0;  // page-table growth per coroutine, bytes
  int ok = 0;
};

double average_saved(const std::vector<stCoRoutine_t*>& cos) {
  double total = 0;
  for (stCoRoutine_t* c : cos) total += reinterpret_cast<co::detail::Coroutine*>(c)->saved_capacity;
  return cos.empty() ? 0 : total / static_cast<double>(cos.size());
}

// co::go coroutines that park in WaitGroup::wait; main drives them with co::yield()
// (runs the ready ones once) until all are parked, measures, then releases them.
Result bench_go(long n, co::SharedStacks* shared) {
  (void)co::stats();  // creates this thread's scheduler outside the measurement
  co::WaitGroup gate;
  gate.add(1);
  co::Options options;
  options.stack_size = kStackSize;
  options.shared_stacks = shared;
  std::vector<stCoRoutine_t*> cos;  // for the saved-copy sizes; counted, then subtracted
  cos.reserve(static_cast<std::size_t>(n));
  const long before = rss_bytes();
  const long pte_before = pte_bytes();
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) {
    co::go(options, [&gate, &cos] {
      cos.push_back(co_self());
      gate.wait();
    });
  }
  co::yield();  // from main: runs every ready coroutine once; each parks
  const std::int64_t t1 = bench::now_ns();
  const long after = rss_bytes();
  Result r;
  if (static_cast<long>(cos.size()) != n) {
    std::fprintf(stderr, "only %zu of %ld coroutines parked\n", cos.size(), n);
    return r;
  }
  r.bytes_per_co = static_cast<double>(after - before - n * static_cast<long>(sizeof(void*))) /
                   static_cast<double>(n);
  r.pte_per_co = static_cast<double>(pte_bytes() - pte_before) / static_cast<double>(n);
  r.ns_per_co = static_cast<double>(t1 - t0) / static_cast<double>(n);
  if (shared != nullptr) r.saved_avg = average_saved(cos);
  gate.done();
  co::run();
  r.ok = 1;
  return r;
}

// co::go coroutines parked in a hooked read() on one blocking socket (the hooks' park frames
// are in every saved stack copy); shutting the peer's writing side down releases them.
Result bench_go_read(long n, co::SharedStacks* shared) {
  (void)co::stats();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return Result{};
  co::Options options;
  options.stack_size = kStackSize;
  options.shared_stacks = shared;
  std::vector<stCoRoutine_t*> cos;
  cos.reserve(static_cast<std::size_t>(n));
  const long before = rss_bytes();
  const long pte_before = pte_bytes();
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) {
    co::go(options, [&cos, fd = sv[0]] {
      cos.push_back(co_self());
      char c;
      (void)!read(fd, &c, 1);
    });
  }
  co::yield();
  const std::int64_t t1 = bench::now_ns();
  const long after = rss_bytes();
  Result r;
  if (static_cast<long>(cos.size()) != n) return r;
  r.bytes_per_co = static_cast<double>(after - before - n * static_cast<long>(sizeof(void*))) /
                   static_cast<double>(n);
  r.pte_per_co = static_cast<double>(pte_bytes() - pte_before) / static_cast<double>(n);
  r.ns_per_co = static_cast<double>(t1 - t0) / static_cast<double>(n);
  if (shared != nullptr) r.saved_avg = average_saved(cos);
  shutdown(sv[1], SHUT_WR);  // EOF: every read returns 0
  co::run();
  close(sv[0]);
  close(sv[1]);
  r.ok = 1;
  return r;
}

void* libco_park(void*) {
  co_yield_ct();
  return nullptr;
}

Result bench_libco(long n, stShareStack_t* shared) {
  (void)co::stats();
  stCoRoutineAttr_t attr;
  attr.stack_size = static_cast<int>(kStackSize);
  attr.share_stack = shared;
  std::vector<stCoRoutine_t*> cos(static_cast<std::size_t>(n));
  const long before = rss_bytes();  // the handle vector is touched below: counted
  const long pte_before = pte_bytes();
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) {
    if (co_create(&cos[static_cast<std::size_t>(i)], &attr, &libco_park, nullptr) != 0) {
      std::fprintf(stderr, "co_create failed at %ld\n", i);
      return Result{};
    }
    co_resume(cos[static_cast<std::size_t>(i)]);
  }
  const std::int64_t t1 = bench::now_ns();
  const long after = rss_bytes();
  Result r;
  r.bytes_per_co = static_cast<double>(after - before - n * static_cast<long>(sizeof(void*))) /
                   static_cast<double>(n);
  r.ns_per_co = static_cast<double>(t1 - t0) / static_cast<double>(n);
  r.pte_per_co = static_cast<double>(pte_bytes() - pte_before) / static_cast<double>(n);
  if (shared != nullptr) r.saved_avg = average_saved(cos);
  for (stCoRoutine_t* c : cos) {
    co_resume(c);
    co_release(c);
  }
  r.ok = 1;
  return r;
}

enum class Case { go_private, libco_private, go_shared, libco_shared, go_shared_read };

// Runs one case in a child process and returns its result (ok = 0 on failure). The child
// creates its own scheduler and shared stacks; the parent never touches the runtime.
Result run_isolated(Case c, long n) {
  int fds[2];
  if (pipe(fds) != 0) return Result{};
  const pid_t pid = fork();
  if (pid < 0) return Result{};
  if (pid == 0) {
    close(fds[0]);
    Result r;
    switch (c) {
      case Case::go_private: r = bench_go(n, nullptr); break;
      case Case::libco_private: r = bench_libco(n, nullptr); break;
      case Case::go_shared:
        r = bench_go(n, co::make_shared_stacks(kSharedStacks, kStackSize));
        break;
      case Case::libco_shared:
        r = bench_libco(n, co_alloc_sharestack(kSharedStacks, static_cast<int>(kStackSize)));
        break;
      case Case::go_shared_read:
        r = bench_go_read(n, co::make_shared_stacks(kSharedStacks, kStackSize));
        break;
    }
    (void)!write(fds[1], &r, sizeof r);
    _exit(0);
  }
  close(fds[1]);
  Result r;
  if (read(fds[0], &r, sizeof r) != static_cast<ssize_t>(sizeof r)) r = Result{};
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) r.ok = 0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args =
      bench::parse_args(argc, argv,
                        "memory_bench [--reps N] [--private N] [--shared N] [--10m] [--only-10m]\n"
                        "  (RSS bytes per parked coroutine)");
  long n_private = 100000;
  long n_shared = 1000000;  // the hooked read() case parks a tenth of it
  for (std::size_t i = 0; i + 1 < args.flags.size(); ++i) {
    if (args.flags[i] == "--private") n_private = std::atol(args.flags[i + 1].c_str());
    if (args.flags[i] == "--shared") n_shared = std::atol(args.flags[i + 1].c_str());
  }
  const bool only_10m = args.has("--only-10m");
  const bool with_10m = only_10m || args.has("--10m");
  if (args.reps == 5 && std::find(argv, argv + argc, std::string("--reps")) == argv + argc) {
    args.reps = 3;  // each repetition creates millions of coroutines
  }
  if (only_10m) args.reps = 1;  // the 10M cases run once
  bench::print_header("memory: RSS bytes per parked coroutine", args);
  std::printf(
      "sizeof(co::detail::Coroutine) = %zu bytes; private stacks %zu KiB; %d shared stacks of %zu "
      "KiB\n\n",
      sizeof(co::detail::Coroutine), kStackSize / 1024, kSharedStacks, kStackSize / 1024);

  std::vector<bench::Row> bytes_rows, ns_rows;
  bool all_ok = true;
  auto add = [&](const char* name, long n, Case c, int reps) {
    bench::Row b{name, {}, ""}, t{name, {}, ""};
    double saved = 0, pte = 0;
    for (int rep = 0; rep < reps; ++rep) {
      const Result r = run_isolated(c, n);
      if (!r.ok) {
        std::fprintf(stderr, "memory_bench: case \"%s\" (N = %ld) failed\n", name, n);
        all_ok = false;
        continue;
      }
      b.samples.push_back(r.bytes_per_co);
      t.samples.push_back(r.ns_per_co);
      saved = r.saved_avg;
      pte = r.pte_per_co;
    }
    char note[200];
    std::snprintf(note, sizeof note, "N = %ld; delta RSS %.0f MiB; page tables +%.0f B/coroutine",
                  n, bench::median(b.samples) * static_cast<double>(n) / 1048576.0, pte);
    b.note = note;
    if (saved > 0) {
      std::snprintf(note, sizeof note, "; saved stack copy %.0f B avg", saved);
      b.note += note;
    }
    if (b.samples.empty()) b.note = "FAILED (see stderr)";
    bytes_rows.push_back(b);
    ns_rows.push_back(t);
  };

  if (!only_10m) {
    add("private 128 KiB, co::go + WaitGroup::wait", n_private, Case::go_private, args.reps);
    add("private 128 KiB, libco co_yield_ct", n_private, Case::libco_private, args.reps);
    add("shared, co::go + WaitGroup::wait", n_shared, Case::go_shared, args.reps);
    add("shared, libco co_yield_ct", n_shared, Case::libco_shared, args.reps);
    add("shared, co::go + hooked read()", n_shared / 10, Case::go_shared_read, args.reps);
  }
  if (with_10m) {
    add("shared, co::go + WaitGroup::wait, 10M", 10000000, Case::go_shared, 1);
    add("shared, libco co_yield_ct, 10M", 10000000, Case::libco_shared, 1);
  }
  bench::print_table("bytes/coroutine", bytes_rows);
  std::printf("Time to create and park (same runs):\n\n");
  bench::print_table("ns/coroutine", ns_rows);

  std::printf("| target | value | verdict |\n| --- | ---: | --- |\n");
  for (const bench::Row& r : bytes_rows) {
    if (std::strstr(r.name.c_str(), "shared") == nullptr) continue;
    const double b = bench::median(r.samples);
    const double gib_10m = b * 1e7 / (1024.0 * 1024 * 1024);
    std::printf("| %s: 10M take %.1f GiB (<= 2.4 KB each hard, <= 1 KiB ideal) | %.0f B | %s |\n",
                r.name.c_str(), gib_10m, b,
                b <= 1024   ? "met (ideal)"
                : b <= 2400 ? "met (hard limit)"
                            : "MISSED");
  }
  std::printf("\n");
  return all_ok ? 0 : 1;
}
