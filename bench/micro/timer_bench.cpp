// timer_bench: nanoseconds per timer insert + cancel with 1M timers pending, measured on
// the scheduler's own TimerQueue (runtime/src/timer_queue.cpp compiled in: white-box).
//
// Cases (same repetition loop):
//   insert+cancel same node     a coroutine parks with a timeout and is woken before it:
//                               insert a node with a random deadline, cancel it right away
//   insert+cancel, now+timeout  the same with deadline = a clock that advances, plus a
//                               fixed timeout (later than everything pending: the common
//                               server case of one timeout value)
//   cancel random + re-insert   churn: cancel a random pending timer (anywhere in the heap),
//                               insert it again with a new random deadline
//   expire                      pop the earliest timer and insert a new one (timer firing)
//
// Usage: timer_bench [--reps 5] [--iters 1000000] [--pending 1000000]
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "bench_util.h"
#include "timer_queue.h"

namespace {

using co::detail::TimerNode;
using co::detail::TimerQueue;

// Deadlines: ns on a monotonic-like scale, spread over 1 ms .. 100 s from "now" = 1e12.
constexpr std::int64_t kNow = 1000000000000;
constexpr std::int64_t kSpread = 100000000000;

int g_fired = 0;
void on_fire(TimerNode*) { ++g_fired; }

struct Fixture {
  explicit Fixture(long pending) : nodes(static_cast<std::size_t>(pending)), rng(12345) {
    for (TimerNode& n : nodes) {
      n.deadline = random_deadline();
      n.on_expire = &on_fire;
      q.insert(&n);
    }
  }
  std::int64_t random_deadline() {
    return kNow + 1000000 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(kSpread));
  }
  std::vector<TimerNode> nodes;
  TimerQueue q;
  std::mt19937_64 rng;
};

// Random numbers are drawn before the clock starts so that the figure is the queue's.
double bench_insert_cancel(Fixture& f, long iters) {
  std::vector<std::int64_t> deadlines(static_cast<std::size_t>(iters));
  for (auto& d : deadlines) d = f.random_deadline();
  TimerNode node;
  node.on_expire = &on_fire;
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < iters; ++i) {
    node.deadline = deadlines[static_cast<std::size_t>(i)];
    f.q.insert(&node);
    f.q.cancel(&node);
  }
  const std::int64_t t1 = bench::now_ns();
  return static_cast<double>(t1 - t0) / static_cast<double>(iters);
}

double bench_insert_cancel_monotonic(Fixture& f, long iters) {
  TimerNode node;
  node.on_expire = &on_fire;
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < iters; ++i) {
    node.deadline = kNow + kSpread + 30000000000 + i;  // now + 30 s, the clock advancing
    f.q.insert(&node);
    f.q.cancel(&node);
  }
  const std::int64_t t1 = bench::now_ns();
  return static_cast<double>(t1 - t0) / static_cast<double>(iters);
}

double bench_churn(Fixture& f, long iters) {
  std::vector<std::uint32_t> victims(static_cast<std::size_t>(iters));
  std::vector<std::int64_t> deadlines(static_cast<std::size_t>(iters));
  for (long i = 0; i < iters; ++i) {
    victims[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(f.rng() % f.nodes.size());
    deadlines[static_cast<std::size_t>(i)] = f.random_deadline();
  }
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < iters; ++i) {
    TimerNode& n = f.nodes[victims[static_cast<std::size_t>(i)]];
    f.q.cancel(&n);
    n.deadline = deadlines[static_cast<std::size_t>(i)];
    f.q.insert(&n);
  }
  const std::int64_t t1 = bench::now_ns();
  return static_cast<double>(t1 - t0) / static_cast<double>(iters);
}

// Fires the earliest timer (expire with now = its deadline) and arms it again, later than
// everything pending: the queue size stays constant.
TimerNode* g_last_fired = nullptr;
void on_fire_rearm(TimerNode* n) { g_last_fired = n; }

double bench_expire(Fixture& f, long iters) {
  std::vector<std::int64_t> deadlines(static_cast<std::size_t>(iters));
  std::int64_t base = f.q.next_deadline() + 2 * kSpread;
  for (auto& d : deadlines) d = (base += 1000);
  for (TimerNode& n : f.nodes) n.on_expire = &on_fire_rearm;
  std::size_t fired = 0;
  const std::int64_t t0 = bench::now_ns();
  for (long i = 0; i < iters; ++i) {
    fired += f.q.expire(f.q.next_deadline());
    g_last_fired->deadline = deadlines[static_cast<std::size_t>(i)];
    f.q.insert(g_last_fired);
  }
  const std::int64_t t1 = bench::now_ns();
  for (TimerNode& n : f.nodes) n.on_expire = &on_fire;
  bench::do_not_optimize(fired);
  return static_cast<double>(t1 - t0) / static_cast<double>(iters);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args = bench::parse_args(
      argc, argv, "timer_bench [--reps N] [--iters N] [--pending N]   (ns per insert+cancel)");
  long pending = 1000000;
  for (std::size_t i = 0; i + 1 < args.flags.size(); ++i) {
    if (args.flags[i] == "--pending") pending = std::atol(args.flags[i + 1].c_str());
  }
  const long iters = args.iters > 0 ? args.iters : 1000000;
  bench::print_header("timers: ns per TimerQueue operation with 1M pending", args);
  std::printf(
      "%ld pending timers (random deadlines over 100 s), %ld operations per case and "
      "repetition\n\n",
      pending, iters);

  std::vector<bench::Row> rows(4);
  rows[0] = {"insert + cancel (same node, random deadline)", {}, "park with timeout, woken early"};
  rows[1] = {
      "insert + cancel (same node, now + fixed timeout)", {}, "deadline later than all pending"};
  rows[2] = {"cancel random pending + re-insert", {}, "churn anywhere in the heap"};
  rows[3] = {"expire earliest + re-insert", {}, "a timer firing, then re-armed"};

  auto fixture = std::make_unique<Fixture>(pending);
  auto expire_fixture = std::make_unique<Fixture>(pending);  // its deadlines drift later
  for (int rep = 0; rep < args.reps; ++rep) {
    rows[0].samples.push_back(bench_insert_cancel(*fixture, iters));
    rows[1].samples.push_back(bench_insert_cancel_monotonic(*fixture, iters));
    rows[2].samples.push_back(bench_churn(*fixture, iters));
    rows[3].samples.push_back(bench_expire(*expire_fixture, iters));
  }
  if (fixture->q.size() != static_cast<std::size_t>(pending)) {
    std::fprintf(stderr, "queue size drifted: %zu\n", fixture->q.size());
    return 1;
  }
  bench::print_table("ns/op", rows);
  const double ic = bench::median(rows[0].samples);
  std::printf("| figure | value |\n| --- | ---: |\n| ns per insert+cancel, 1M pending | %.1f |\n\n",
              ic);
  return 0;
}
