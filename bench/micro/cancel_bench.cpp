// What cancellation costs on the park path (cofcgi/runtime/cancel.h): a ping-pong of two
// coroutines over two co::WaitQueues, each round trip two parks, two wake-ups and two
// switches. Cases: no deadline and no cancel flag (the check every park now makes: two loads
// and a branch), inside a DeadlineScope (each park reads the clock and arms a timer), and
// inside a CancelShield (the check is skipped). Built against a runtime without cancel.h
// (the commit before it), only the first case runs: that is the A/B for "what the check
// costs" (bench/README.md).
//
//   taskset -c 0 build-bench/bench/micro/cancel_bench [--reps N] [--iters N] [--plain-only]
// --plain-only runs the first case alone (for callgrind: instructions per round trip).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cofcgi/runtime.h"

#if __has_include("cofcgi/runtime/cancel.h")
#define COFCGI_BENCH_HAVE_CANCEL 1
#endif

namespace {

enum class Setting { plain, deadline, shield };

// round_trips_ns runs `iters` round trips and returns ns per round trip.
double round_trips_ns(long iters, Setting setting) {
  co::WaitQueue to_a, to_b;
  double ns = 0;
  co::go([&] {  // B: first in the ready queue, so it waits before A notifies
    for (long i = 0; i < iters; ++i) {
      (void)to_b.wait();
      to_a.notify_one();
    }
  });
  co::go([&] {
#if defined(COFCGI_BENCH_HAVE_CANCEL)
    std::optional<co::DeadlineScope> scope;
    std::optional<co::CancelShield> shield;
    if (setting != Setting::plain) scope.emplace(std::chrono::hours(1));
    if (setting == Setting::shield) shield.emplace();
#else
    (void)setting;
#endif
    const std::int64_t start = bench::now_ns();
    for (long i = 0; i < iters; ++i) {
      to_b.notify_one();
      (void)to_a.wait();
    }
    ns = static_cast<double>(bench::now_ns() - start) / static_cast<double>(iters);
  });
  co::run();
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(
      argc, argv, "cancel_bench [--reps N] [--iters N]: park/wake round trips with cancel checks");
  const long iters = args.iters > 0 ? args.iters : 1'000'000;
#if defined(COFCGI_BENCH_HAVE_CANCEL)
  bench::print_header("park path with cancellation (cofcgi/runtime/cancel.h)", args);
#else
  bench::print_header("park path, runtime without cancellation", args);
#endif
  std::vector<bench::Row> rows = {
    {"no deadline, not cancelled", {}, "2 parks + 2 wake-ups + 2 switches"},
#if defined(COFCGI_BENCH_HAVE_CANCEL)
    {"inside DeadlineScope(1 h)", {}, "+ clock read and timer per park"},
    {"inside DeadlineScope + CancelShield", {}, "check skipped"},
#endif
  };
  const bool plain_only = args.has("--plain-only");
  if (plain_only) rows.resize(1);
  for (int r = 0; r < args.reps; ++r) {
    rows[0].samples.push_back(round_trips_ns(iters, Setting::plain));
    if (plain_only) continue;
#if defined(COFCGI_BENCH_HAVE_CANCEL)
    rows[1].samples.push_back(round_trips_ns(iters, Setting::deadline));
    rows[2].samples.push_back(round_trips_ns(iters, Setting::shield));
#endif
  }
  bench::print_table("ns per round trip", rows);
  return 0;
}
