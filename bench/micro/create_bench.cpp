// create_bench: nanoseconds to create a coroutine, run it to completion and destroy it.
//
// Cases, all measured inside the same repetition loop (N = 1M each by default):
//   cofcgi libco API, private stack   co_create + co_resume + co_release, 128 KiB stack
//                                     (the scheduler pools stacks: no syscall once warm)
//   cofcgi libco API, shared stack    the same with attr.share_stack (one 128 KiB stack)
//   cofcgi co::go + co::run           batches of B go() calls then one co::run(), B = 1000
//                                     and B = 1; private 128 KiB stacks
//   cofcgi co::go + co::run, shared   batches of 1000 on one shared stack
//   cofcgi raw make_context           make_context + switch_context on one
//                                     preallocated stack (white-box; the floor)
//   Boost fiber, pooled stack         boost::context::fiber with pooled_fixedsize_stack
//   Boost fiber, fixedsize stack      the same with fixedsize_stack (malloc per fiber)
//   Boost raw fcontext                make_fcontext + jump_fcontext, preallocated stack
//
// Usage: create_bench [--reps 5] [--iters 1000000] [--only CASE]
// Run pinned: taskset -c 0 create_bench
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"
#include "co_routine.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/options.h"
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
#include <boost/context/pooled_fixedsize_stack.hpp>
#endif

namespace {

constexpr std::size_t kStackSize = 128 * 1024;
volatile long g_work = 0;  // what every coroutine does: one store

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

double per_op(std::int64_t t0, std::int64_t t1, long n) {
  return static_cast<double>(t1 - t0) / static_cast<double>(n);
}

// ---- cofcgi libco API ---------------------------------------------------------------------

void* libco_body(void*) {
  g_work = g_work + 1;
  return nullptr;
}

double bench_libco(long n, stShareStack_t* shared) {
  stCoRoutineAttr_t attr;
  attr.stack_size = static_cast<int>(kStackSize);
  attr.share_stack = shared;
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) {
    stCoRoutine_t* c = nullptr;
    if (co_create(&c, &attr, &libco_body, nullptr) != 0) std::abort();
    co_resume(c);
    co_release(c);
  }
  return per_op(t0, bench::now_ns(), n);
}

// ---- cofcgi C++ API -------------------------------------------------------------------------

double bench_go(long n, long batch, co::SharedStacks* shared) {
  co::Options options;
  options.stack_size = kStackSize;
  options.shared_stacks = shared;
  const std::int64_t t0 = bench::now_ns();
  for (long done = 0; done < n; done += batch) {
    for (long i = 0; i < batch; ++i) co::go(options, [] { g_work = g_work + 1; });
    co::run();
  }
  return per_op(t0, bench::now_ns(), n);
}

// ---- cofcgi raw context -------------------------------------------------------------------

#if defined(COFCGI_BENCH_RAW_SWITCH)
struct RawRun {
  void* main_sp = nullptr;
  void* co_sp = nullptr;
};

void raw_body(void* arg) {
  auto* r = static_cast<RawRun*>(arg);
  g_work = g_work + 1;
  co::detail::switch_context(&r->co_sp, r->main_sp);  // never resumed: "finished"
  std::abort();
}

double bench_raw_cofcgi(long n, RawStack& stack) {
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) {
    RawRun r;
    r.co_sp = co::detail::make_context(stack.top(), &raw_body, &r);
    co::detail::switch_context(&r.main_sp, r.co_sp);
  }
  return per_op(t0, bench::now_ns(), n);
}
#endif

// ---- Boost.Context --------------------------------------------------------------------------

#if defined(COFCGI_BENCH_HAVE_BOOST)
namespace ctx = boost::context;

template <typename StackAlloc>
double bench_fiber(long n, StackAlloc salloc) {
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) {
    ctx::fiber f{std::allocator_arg, salloc, [](ctx::fiber&& sink) {
                   g_work = g_work + 1;
                   return std::move(sink);
                 }};
    f = std::move(f).resume();  // runs to completion; the stack is released on the way out
  }
  return per_op(t0, bench::now_ns(), n);
}

void fcontext_body(ctx::detail::transfer_t t) {
  g_work = g_work + 1;
  ctx::detail::jump_fcontext(t.fctx, nullptr);  // never resumed: "finished"
  std::abort();
}

double bench_fcontext(long n, RawStack& stack) {
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) {
    ctx::detail::fcontext_t c = ctx::detail::make_fcontext(stack.top(), kStackSize, &fcontext_body);
    ctx::detail::jump_fcontext(c, nullptr);
  }
  return per_op(t0, bench::now_ns(), n);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(
      argc, argv, "create_bench [--reps N] [--iters N]   (ns per create+run+destroy)");
  const long n = args.iters > 0 ? args.iters : 1000000;
  bench::print_header("create: ns per create + run to completion + destroy", args);
  std::printf("%ld coroutines per case and repetition; stacks of %zu KiB\n\n", n,
              kStackSize / 1024);

  stShareStack_t* libco_shared = co_alloc_sharestack(1, static_cast<int>(kStackSize));
  co::SharedStacks* go_shared = co::make_shared_stacks(1, kStackSize);
  RawStack raw_stack;
#if defined(COFCGI_BENCH_HAVE_BOOST)
  ctx::pooled_fixedsize_stack pooled(kStackSize);
#endif

  enum {
    kLibco,
    kLibcoShared,
    kGo1000,
    kGo1,
    kGoShared,
    kRaw,
    kFiberPooled,
    kFiberFixed,
    kFcontext,
    kCount
  };
  std::vector<bench::Row> rows(kCount);
  rows[kLibco] = {"cofcgi libco API, private stack (pooled)", {}, "co_create+co_resume+co_release"};
  rows[kLibcoShared] = {"cofcgi libco API, shared stack", {}, "attr.share_stack, 1 stack"};
  rows[kGo1000] = {"cofcgi co::go + co::run, batch 1000", {}, "private stacks (pooled)"};
  rows[kGo1] = {"cofcgi co::go + co::run, batch 1", {}, "private stack (pooled)"};
  rows[kGoShared] = {"cofcgi co::go + co::run, shared stack, batch 1000", {}, "1 shared stack"};
  rows[kRaw] = {
      "cofcgi raw make_context + switch_context", {}, "white-box floor, preallocated stack"};
  rows[kFiberPooled] = {"Boost fiber, pooled_fixedsize_stack", {}, ""};
  rows[kFiberFixed] = {"Boost fiber, fixedsize_stack", {}, "malloc/free per fiber"};
  rows[kFcontext] = {"Boost raw make_fcontext + jump_fcontext", {}, "preallocated stack"};

  // Warm-up: the pools fill, the pages of the stacks get touched.
  bench_libco(1000, nullptr);
  bench_libco(1000, libco_shared);
  bench_go(2000, 1000, nullptr);
  bench_go(2000, 1000, go_shared);

  // --only NAME (libco, libco-shared, go1000, go1, go-shared, raw, fiber-pooled, fiber-fixed,
  // fcontext) runs one case, for profiling.
  std::string only;
  for (std::size_t i = 0; i + 1 < args.flags.size(); ++i) {
    if (args.flags[i] == "--only") only = args.flags[i + 1];
  }
  auto want = [&only](const char* name) { return only.empty() || only == name; };
  for (int rep = 0; rep < args.reps; ++rep) {
    if (want("libco")) rows[kLibco].samples.push_back(bench_libco(n, nullptr));
    if (want("libco-shared")) rows[kLibcoShared].samples.push_back(bench_libco(n, libco_shared));
    if (want("go1000")) rows[kGo1000].samples.push_back(bench_go(n, 1000, nullptr));
    if (want("go1")) rows[kGo1].samples.push_back(bench_go(n, 1, nullptr));
    if (want("go-shared")) rows[kGoShared].samples.push_back(bench_go(n, 1000, go_shared));
#if defined(COFCGI_BENCH_RAW_SWITCH)
    if (want("raw")) rows[kRaw].samples.push_back(bench_raw_cofcgi(n, raw_stack));
#endif
#if defined(COFCGI_BENCH_HAVE_BOOST)
    if (want("fiber-pooled")) rows[kFiberPooled].samples.push_back(bench_fiber(n, pooled));
    if (want("fiber-fixed")) {
      rows[kFiberFixed].samples.push_back(bench_fiber(n, ctx::fixedsize_stack(kStackSize)));
    }
    if (want("fcontext")) rows[kFcontext].samples.push_back(bench_fcontext(n, raw_stack));
#endif
  }
#if !defined(COFCGI_BENCH_HAVE_BOOST)
  rows[kFiberPooled].note = rows[kFiberFixed].note = rows[kFcontext].note =
      "skipped: Boost.Context not found at configure time";
#endif
  bench::print_table("ns/coroutine", rows);

  const double pooled_ns = bench::median(rows[kLibco].samples);
  std::printf("| target | value | verdict |\n| --- | ---: | --- |\n");
  std::printf("| pooled private stack create+run+destroy < 100 ns (libco API) | %.1f ns | %s |\n",
              pooled_ns, pooled_ns < 100 ? "met" : "MISSED");
  const double go_ns = bench::median(rows[kGo1].samples);
  std::printf(
      "| pooled private stack create+run+destroy < 100 ns (co::go, batch 1) | %.1f ns | %s |\n\n",
      go_ns, go_ns < 100 ? "met" : "MISSED");
  return 0;
}
