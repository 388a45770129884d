// switch_bench: nanoseconds per one-way context switch. Two contexts ping-pong N times;
// one ping-pong (resume + yield) is 2 switches, so ns/switch = time / (2 N).
//
// Cases, all measured inside the same repetition loop:
//   cofcgi libco API      co_resume / co_yield_ct (the public C API, through the PLT)
//   cofcgi C++ API        co::yield() between two co::go coroutines: each hop goes through
//                         the scheduler loop (coroutine -> loop -> other coroutine = 2
//                         switches), plus the loop's own bookkeeping. "scheduler round trip".
//   cofcgi .S switch      cofcgi_switch_context (arch/switch_*.S), the one switch routine
//                         (the scheduler's co::detail::switch_context calls it), between
//                         main and one context from make_context
//   Boost fiber           boost::context::fiber::resume()
//   Boost jump_fcontext   raw boost::context::detail::jump_fcontext
//   glibc swapcontext     (does a sigprocmask syscall per switch: N/10 iterations)
//
// Usage: switch_bench [--reps 5] [--iters 10000000] [--only CASE[,CASE...]]
// Run pinned: taskset -c 0 switch_bench
#include <sys/mman.h>
#include <ucontext.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"
#include "co_routine.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"

#if defined(COFCGI_BENCH_RAW_SWITCH)
#include "arch/context.h"
// The asm trampoline reports a returning entry through this (the library keeps its own
// definition hidden).
extern "C" void cofcgi_context_entry_returned() { std::abort(); }
#endif

#if defined(COFCGI_BENCH_HAVE_BOOST)
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#endif

namespace {

constexpr std::size_t kStackSize = 128 * 1024;

// One mmap'd stack for the raw peers (no guard page: the ping-pong frames are tiny).
struct RawStack {
  RawStack() {
    base = static_cast<char*>(mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0));
    if (base == MAP_FAILED) std::abort();
  }
  ~RawStack() { munmap(base, kStackSize); }
  RawStack(const RawStack&) = delete;
  RawStack& operator=(const RawStack&) = delete;
  char* top() const { return base + kStackSize; }
  char* base;
};

// ---- cofcgi libco API -------------------------------------------------------------------

void* libco_pingpong(void*) {
  for (;;) co_yield_ct();
  return nullptr;
}

double bench_libco(long n) {
  stCoRoutine_t* c = nullptr;
  if (co_create(&c, nullptr, &libco_pingpong, nullptr) != 0) std::abort();
  co_resume(c);  // warm: first entry
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) co_resume(c);
  const std::int64_t t1 = bench::now_ns();
  co_release(c);
  return static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(n));
}

// ---- cofcgi C++ API: co::yield through the scheduler ------------------------------------

double bench_cpp_yield(long n) {
  // n hops in all: each of the two coroutines yields n/2 times.
  const long per = n / 2;
  auto body = [per] {
    for (long i = 0; i < per; ++i) co::yield();
  };
  co::go(body);
  co::go(body);
  const std::int64_t t0 = bench::now_ns();
  co::run();
  const std::int64_t t1 = bench::now_ns();
  return static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(2 * per));
}

// ---- cofcgi raw switches ----------------------------------------------------------------

#if defined(COFCGI_BENCH_RAW_SWITCH)
struct RawPair {
  void* main_sp = nullptr;
  void* co_sp = nullptr;
};

void asm_entry(void* arg) {
  auto* p = static_cast<RawPair*>(arg);
  for (;;) cofcgi_switch_context(&p->co_sp, p->main_sp);
}

double bench_asm_switch(long n) {
  RawStack stack;
  RawPair p;
  p.co_sp = co::detail::make_context(stack.top(), &asm_entry, &p);
  cofcgi_switch_context(&p.main_sp, p.co_sp);
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) cofcgi_switch_context(&p.main_sp, p.co_sp);
  const std::int64_t t1 = bench::now_ns();
  return static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(n));
}
#endif

// ---- Boost.Context -----------------------------------------------------------------------

#if defined(COFCGI_BENCH_HAVE_BOOST)
namespace ctx = boost::context;

double bench_boost_fiber(long n) {
  ctx::fiber f{std::allocator_arg, ctx::fixedsize_stack(kStackSize), [](ctx::fiber&& sink) {
                 for (;;) sink = std::move(sink).resume();
                 return std::move(sink);
               }};
  f = std::move(f).resume();
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) f = std::move(f).resume();
  const std::int64_t t1 = bench::now_ns();
  return static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(n));
  // f's destructor unwinds the fiber's stack
}

void fcontext_entry(ctx::detail::transfer_t t) {
  for (;;) t = ctx::detail::jump_fcontext(t.fctx, nullptr);
}

double bench_fcontext(long n) {
  RawStack stack;
  ctx::detail::transfer_t t{ctx::detail::make_fcontext(stack.top(), kStackSize, &fcontext_entry),
                            nullptr};
  t = ctx::detail::jump_fcontext(t.fctx, nullptr);
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) t = ctx::detail::jump_fcontext(t.fctx, nullptr);
  const std::int64_t t1 = bench::now_ns();
  return static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(n));
}
#endif

// ---- glibc swapcontext ------------------------------------------------------------------

ucontext_t g_uc_main;
ucontext_t g_uc_co;

void uc_entry() {
  for (;;) swapcontext(&g_uc_co, &g_uc_main);
}

double bench_swapcontext(long n) {
  RawStack stack;
  getcontext(&g_uc_co);
  g_uc_co.uc_stack.ss_sp = stack.base;
  g_uc_co.uc_stack.ss_size = kStackSize;
  g_uc_co.uc_link = nullptr;
  makecontext(&g_uc_co, &uc_entry, 0);
  swapcontext(&g_uc_main, &g_uc_co);
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) swapcontext(&g_uc_main, &g_uc_co);
  const std::int64_t t1 = bench::now_ns();
  return static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(n));
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(
      argc, argv, "switch_bench [--reps N] [--iters PINGPONGS]   (ns per one-way switch)");
  const long n = args.iters > 0 ? args.iters : 10000000;
  bench::print_header("switch: ns per one-way context switch", args);
  std::printf("%ld ping-pongs (= %ld switches) per case and repetition; swapcontext: %ld\n\n", n,
              2 * n, n / 10);

  enum { kLibco, kCpp, kAsm, kFiber, kFcontext, kSwapcontext, kCount };
  std::vector<bench::Row> rows(kCount);
  rows[kLibco] = {"(a) cofcgi libco API: co_resume/co_yield_ct", {}, "public C API, via PLT"};
  rows[kCpp] = {"(b) cofcgi C++ API: co::yield between two co::go (scheduler round trip)",
                {},
                "per switch = hop/2: each hop is coroutine->loop->coroutine"};
  rows[kAsm] = {"cofcgi .S cofcgi_switch_context", {}, "internal out-of-line asm (white-box)"};
  rows[kFiber] = {"(c) Boost.Context fiber::resume", {}, "Boost 1.74 fixedsize_stack"};
  rows[kFcontext] = {"(d) Boost.Context raw jump_fcontext", {}, "via PLT into libboost_context.so"};
  rows[kSwapcontext] = {"(e) glibc swapcontext", {}, "n/10 ping-pongs (sigprocmask syscall each)"};

  // --only NAME[,NAME...] (libco, cpp, asm, fiber, fcontext, swapcontext) runs those cases:
  // one for profiling (valgrind --tool=callgrind), "libco,fcontext" for the ratio alone
  // (the two back to back in every repetition, less exposed to a shared machine's phases).
  std::string only;
  for (std::size_t i = 0; i + 1 < args.flags.size(); ++i) {
    if (args.flags[i] == "--only") only = "," + args.flags[i + 1] + ",";
  }
  auto want = [&only](const char* name) {
    return only.empty() || only.find("," + std::string(name) + ",") != std::string::npos;
  };
  for (int rep = 0; rep < args.reps; ++rep) {
    if (want("libco")) rows[kLibco].samples.push_back(bench_libco(n));
    if (want("cpp")) rows[kCpp].samples.push_back(bench_cpp_yield(n));
#if defined(COFCGI_BENCH_RAW_SWITCH)
    if (want("asm")) rows[kAsm].samples.push_back(bench_asm_switch(n));
#endif
#if defined(COFCGI_BENCH_HAVE_BOOST)
    if (want("fiber")) rows[kFiber].samples.push_back(bench_boost_fiber(n));
    if (want("fcontext")) rows[kFcontext].samples.push_back(bench_fcontext(n));
#endif
    if (want("swapcontext")) rows[kSwapcontext].samples.push_back(bench_swapcontext(n / 10));
  }
#if !defined(COFCGI_BENCH_RAW_SWITCH)
  rows[kAsm].note = "not built (no asm switch for this target)";
#endif
#if !defined(COFCGI_BENCH_HAVE_BOOST)
  rows[kFiber].note = rows[kFcontext].note = "skipped: Boost.Context not found at configure time";
#endif
  bench::print_table("ns/switch", rows);

  // Ratios to raw fcontext, for the cases that ran (median of the per-repetition ratios).
  const double fctx = bench::median(rows[kFcontext].samples);
  if (fctx > 0) {
    std::printf("| ratio | value | target |\n| --- | ---: | --- |\n");
    auto ratio = [&](int row, const char* name, double target, const char* no_target) {
      if (rows[row].samples.empty()) return;
      // The median of the per-repetition ratios: each repetition runs every case back to
      // back, so a slow phase of a shared machine hits both sides of one ratio alike.
      std::vector<double> per_rep;
      const auto& a = rows[row].samples;
      const auto& d = rows[kFcontext].samples;
      for (std::size_t i = 0; i < a.size() && i < d.size(); ++i) per_rep.push_back(a[i] / d[i]);
      const double r =
          per_rep.size() == a.size() ? bench::median(per_rep) : bench::median(a) / fctx;
      if (target > 0) {
        std::printf("| %s / (d) fcontext | %.2f | <= %.1f: %s |\n", name, r, target,
                    r <= target ? "met" : "MISSED");
      } else {
        std::printf("| %s / (d) fcontext | %.2f | %s |\n", name, r, no_target);
      }
    };
    ratio(kLibco, "(a) libco API", 1.0, "");
    ratio(kCpp, "(b) C++ API scheduler round trip", 0, "(no target: includes the loop)");
    ratio(kAsm, ".S cofcgi_switch_context", 0, "");
    ratio(kFiber, "(c) Boost fiber", 0, "");
    ratio(kSwapcontext, "(e) swapcontext", 0, "");
    std::printf("\n");
  }
  return 0;
}
