// White-box tests of co::detail::TimerQueue (runtime/src/timer_queue.cpp is compiled into
// this binary: the library's copy is hidden). The queue is checked against a reference
// std::multiset of deadlines: size, earliest deadline, expiry order and exactly which
// nodes fire.
#include "timer_queue.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "cofcgi/runtime/wait_queue.h"

using co::Deadline;
using co::kNoDeadline;
using co::detail::TimerNode;
using co::detail::TimerQueue;

namespace {

constexpr Deadline kMs = 1000000;
constexpr Deadline kSecond = 1000 * kMs;
constexpr Deadline kDay = 86400 * kSecond;

// Where the expiry callback records nodes; one per test (tests run on one thread).
std::vector<TimerNode*>* g_fired = nullptr;
std::size_t g_fired_while_pending = 0;

void record_fired(TimerNode* node) {
  // expire takes the node out before calling back (counted, not asserted: a million calls).
  if (node->pending()) ++g_fired_while_pending;
  g_fired->push_back(node);
}

struct FiredSink {
  std::vector<TimerNode*> fired;
  FiredSink() {
    g_fired = &fired;
    g_fired_while_pending = 0;
  }
  ~FiredSink() {
    CHECK_MESSAGE(g_fired_while_pending == 0, "a node was still queued during its callback");
    g_fired = nullptr;
  }
};

std::vector<TimerNode> make_nodes(std::size_t n) {
  std::vector<TimerNode> nodes(n);
  for (TimerNode& node : nodes) node.on_expire = &record_fired;
  return nodes;
}

// The queue agrees with the reference: same size, same earliest deadline.
void check_agrees(const TimerQueue& q, const std::multiset<Deadline>& ref) {
  REQUIRE(q.size() == ref.size());
  REQUIRE(q.next_deadline() == (ref.empty() ? kNoDeadline : *ref.begin()));
}

}  // namespace

TEST_CASE("TimerQueue: empty queue") {
  TimerQueue q;
  FiredSink sink;
  CHECK(q.size() == 0);
  CHECK(q.next_deadline() == kNoDeadline);
  CHECK(q.expire(kNoDeadline) == 0);
  CHECK(sink.fired.empty());
  TimerNode node;
  CHECK_FALSE(node.pending());
  q.cancel(&node);  // not pending: no-op
  CHECK(q.size() == 0);
}

TEST_CASE("TimerQueue: insert, cancel, re-insert and double cancel of one node") {
  TimerQueue q;
  FiredSink sink;
  auto nodes = make_nodes(3);
  nodes[0].deadline = 30;
  nodes[1].deadline = 10;
  nodes[2].deadline = 20;
  for (TimerNode& n : nodes) q.insert(&n);
  for (TimerNode& n : nodes) CHECK(n.pending());
  CHECK(q.next_deadline() == 10);
  q.cancel(&nodes[1]);
  CHECK_FALSE(nodes[1].pending());
  CHECK(q.next_deadline() == 20);
  q.cancel(&nodes[1]);  // second cancel: no-op
  CHECK(q.size() == 2);
  nodes[1].deadline = 25;
  q.insert(&nodes[1]);
  CHECK(q.size() == 3);
  CHECK(q.next_deadline() == 20);
  CHECK(q.expire(19) == 0);
  CHECK(q.expire(25) == 2);
  REQUIRE(sink.fired.size() == 2);
  CHECK(sink.fired[0] == &nodes[2]);
  CHECK(sink.fired[1] == &nodes[1]);
  CHECK(q.next_deadline() == 30);
  q.cancel(&nodes[0]);
  CHECK(q.size() == 0);
  CHECK(q.next_deadline() == kNoDeadline);
}

TEST_CASE("TimerQueue: random inserts and cancels match a reference multiset") {
  TimerQueue q;
  FiredSink sink;
  std::mt19937_64 rng(12345);
  constexpr std::size_t kNodes = 2000;
  auto nodes = make_nodes(kNodes);
  std::multiset<Deadline> ref;
  // A narrow range gives many equal deadlines, a wide one exercises deep sifts.
  for (const Deadline range : {Deadline{50}, Deadline{1000000}, 3 * kDay}) {
    CAPTURE(range);
    std::uniform_int_distribution<Deadline> deadline_dist(0, range);
    std::uniform_int_distribution<std::size_t> node_dist(0, kNodes - 1);
    for (int step = 0; step < 40000; ++step) {
      TimerNode& node = nodes[node_dist(rng)];
      if (node.pending()) {
        ref.erase(ref.find(node.deadline));
        q.cancel(&node);
        CHECK_FALSE(node.pending());
      } else {
        node.deadline = deadline_dist(rng);
        ref.insert(node.deadline);
        q.insert(&node);
        CHECK(node.pending());
      }
      check_agrees(q, ref);
    }
    // Partial expiry: exactly the deadlines <= now fire, in non-decreasing order.
    const Deadline now = range / 2;
    sink.fired.clear();
    const std::size_t due =
        static_cast<std::size_t>(std::distance(ref.begin(), ref.upper_bound(now)));
    CHECK(q.expire(now) == due);
    REQUIRE(sink.fired.size() == due);
    std::vector<Deadline> fired_deadlines;
    for (TimerNode* n : sink.fired) fired_deadlines.push_back(n->deadline);
    CHECK(std::is_sorted(fired_deadlines.begin(), fired_deadlines.end()));
    CHECK(std::equal(fired_deadlines.begin(), fired_deadlines.end(), ref.begin()));
    ref.erase(ref.begin(), ref.upper_bound(now));
    check_agrees(q, ref);
    for (const TimerNode& n : nodes) {
      if (n.pending()) CHECK(n.deadline > now);
    }
    // Drain the rest: everything fires, sorted, matching the reference exactly.
    sink.fired.clear();
    CHECK(q.expire(kNoDeadline) == ref.size());
    fired_deadlines.clear();
    for (TimerNode* n : sink.fired) fired_deadlines.push_back(n->deadline);
    CHECK(std::equal(fired_deadlines.begin(), fired_deadlines.end(), ref.begin(), ref.end()));
    ref.clear();
    check_agrees(q, ref);
    for (const TimerNode& n : nodes) CHECK_FALSE(n.pending());
  }
}

TEST_CASE("TimerQueue: expiry order is by deadline whatever the insertion order") {
  TimerQueue q;
  FiredSink sink;
  auto nodes = make_nodes(1000);
  std::vector<std::size_t> order(nodes.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  for (std::size_t i : order) {
    nodes[i].deadline = static_cast<Deadline>(i) * kMs;  // node i is due at i ms
    q.insert(&nodes[i]);
  }
  // Expire in steps: each step fires exactly the nodes due in it, lowest first.
  for (Deadline step = 0; step < 1000; step += 100) {
    sink.fired.clear();
    CHECK(q.expire(step * kMs + 99 * kMs) == 100);
    REQUIRE(sink.fired.size() == 100);
    for (std::size_t k = 0; k < 100; ++k) CHECK(sink.fired[k] == &nodes[step + k]);
  }
  CHECK(q.size() == 0);
}

TEST_CASE("TimerQueue: callbacks may re-insert the firing node and cancel others") {
  TimerQueue q;
  static TimerQueue* queue = nullptr;
  static std::vector<TimerNode>* all = nullptr;
  static int periodic_runs = 0;
  queue = &q;
  periodic_runs = 0;
  std::vector<TimerNode> nodes(3);
  all = &nodes;
  // nodes[0]: periodic every 10; nodes[1] due at 25 is cancelled by nodes[0]'s 2nd run;
  // nodes[2] at 1000 stays.
  nodes[0].deadline = 10;
  nodes[0].on_expire = [](TimerNode* self) {
    ++periodic_runs;
    if (periodic_runs == 2) queue->cancel(&(*all)[1]);
    self->deadline += 10;
    queue->insert(self);
  };
  nodes[1].deadline = 25;
  nodes[1].on_expire = [](TimerNode*) { FAIL("a cancelled timer fired"); };
  nodes[2].deadline = 1000;
  nodes[2].on_expire = [](TimerNode*) { FAIL("a far timer fired"); };
  for (TimerNode& n : nodes) q.insert(&n);
  CHECK(q.expire(55) == 5);  // runs at 10, 20, 30, 40, 50
  CHECK(periodic_runs == 5);
  CHECK_FALSE(nodes[1].pending());
  CHECK(nodes[0].pending());
  CHECK(q.next_deadline() == 60);
  CHECK(q.size() == 2);
  q.cancel(&nodes[0]);
  q.cancel(&nodes[2]);
  CHECK(q.size() == 0);
}

TEST_CASE("TimerQueue: deadlines from 1 ms to days; the days never fire") {
  TimerQueue q;
  FiredSink sink;
  const Deadline start = co::now_ns();
  auto nodes = make_nodes(6);
  const Deadline offsets[] = {1 * kMs, 2 * kMs, 3 * kDay, kDay, 30 * kDay, 1000 * kDay};
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].deadline = start + offsets[i];
    q.insert(&nodes[i]);
  }
  CHECK(q.next_deadline() == start + kMs);
  // Wait (really) until the millisecond timers are due.
  while (co::now_ns() < start + 2 * kMs) {
  }
  CHECK(q.expire(co::now_ns()) == 2);
  REQUIRE(sink.fired.size() == 2);
  CHECK(sink.fired[0] == &nodes[0]);
  CHECK(sink.fired[1] == &nodes[1]);
  CHECK(q.next_deadline() == start + kDay);
  // Even a generous "now" within the test never reaches a day-long deadline.
  CHECK(q.expire(co::now_ns() + 60 * kSecond) == 0);
  CHECK(q.size() == 4);
  for (std::size_t i = 2; i < nodes.size(); ++i) CHECK(nodes[i].pending());
  // Deadlines near the top of the range keep their order too.
  TimerNode edge;
  edge.on_expire = &record_fired;
  edge.deadline = kNoDeadline - 1;
  q.insert(&edge);
  CHECK(q.size() == 5);
  CHECK(q.next_deadline() == start + kDay);
  sink.fired.clear();
  CHECK(q.expire(kNoDeadline) == 5);
  REQUIRE(sink.fired.size() == 5);
  CHECK(sink.fired[0] == &nodes[3]);
  CHECK(sink.fired[1] == &nodes[2]);
  CHECK(sink.fired[2] == &nodes[4]);
  CHECK(sink.fired[3] == &nodes[5]);
  CHECK(sink.fired[4] == &edge);
}

TEST_CASE("TimerQueue: one million pending timers inserted and cancelled") {
  constexpr std::size_t kCount = 1000000;
  TimerQueue q;
  FiredSink sink;
  auto nodes = std::make_unique<TimerNode[]>(kCount);
  std::mt19937_64 rng(42);
  const Deadline start = co::now_ns();
  std::uniform_int_distribution<Deadline> offset(kMs, 3 * kDay);
  Deadline earliest = kNoDeadline;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < kCount; ++i) {
    nodes[i].on_expire = &record_fired;
    nodes[i].deadline = start + offset(rng);
    earliest = std::min(earliest, nodes[i].deadline);
    q.insert(&nodes[i]);
  }
  CHECK(q.size() == kCount);
  CHECK(q.next_deadline() == earliest);
  // Cancel in random order; the earliest deadline must follow the survivors.
  std::vector<std::uint32_t> order(kCount);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), rng);
  bool ok = true;
  std::multiset<Deadline> sample_check;
  for (std::size_t k = 0; k < kCount; ++k) {
    TimerNode& n = nodes[order[k]];
    if (!n.pending()) ok = false;
    q.cancel(&n);
    if (n.pending()) ok = false;
    if (q.size() != kCount - k - 1) ok = false;
    // Every so often, check the minimum against a brute-force scan of the survivors
    // (cheap only once few are left).
    if (kCount - k - 1 <= 2000 && (k % 97 == 0)) {
      Deadline min = kNoDeadline;
      for (std::size_t j = k + 1; j < kCount; ++j) min = std::min(min, nodes[order[j]].deadline);
      if (q.next_deadline() != min) ok = false;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(ok);
  CHECK(q.size() == 0);
  CHECK(q.next_deadline() == kNoDeadline);
  CHECK(q.expire(kNoDeadline) == 0);
  CHECK(sink.fired.empty());
  MESSAGE("1,000,000 timers inserted and cancelled in " << seconds << " s");
  CHECK(seconds < 5.0);
}

TEST_CASE("TimerQueue: one million timers expire in deadline order") {
  constexpr std::size_t kCount = 1000000;
  TimerQueue q;
  FiredSink sink;
  sink.fired.reserve(kCount);
  auto nodes = std::make_unique<TimerNode[]>(kCount);
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<Deadline> deadline(kMs, 3 * kDay);
  std::vector<Deadline> expected(kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    nodes[i].on_expire = &record_fired;
    nodes[i].deadline = expected[i] = deadline(rng);
    q.insert(&nodes[i]);
  }
  std::sort(expected.begin(), expected.end());
  const Deadline mid = expected[kCount / 2];
  const std::size_t first_half = static_cast<std::size_t>(
      std::upper_bound(expected.begin(), expected.end(), mid) - expected.begin());
  CHECK(q.expire(mid) == first_half);
  CHECK(q.size() == kCount - first_half);
  CHECK(q.expire(kNoDeadline) == kCount - first_half);
  REQUIRE(sink.fired.size() == kCount);
  bool in_order = true;
  for (std::size_t i = 0; i < kCount; ++i) {
    if (sink.fired[i]->deadline != expected[i]) in_order = false;
  }
  CHECK(in_order);
}
