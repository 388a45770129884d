// detail::Shared: the budget, registry and rebalancing shared by a Pool's threads (see
// pool_shared.h).
#include "pool_shared.h"

#include <algorithm>

#include "thread_pool.h"

namespace co::mysql::detail {

namespace {

std::size_t max_idle_of(const Config& c) {
  return c.max_idle ? std::min(*c.max_idle, c.max_connections) : c.max_connections;
}

// post runs fn(tp) on tp's own thread, if tp still exists then.
template <class Fn>
void post_to(ThreadPool* tp, Fn fn) {
  tp->executor.post([weak = tp->weak_from_this(), fn] {
    if (auto p = weak.lock()) fn(*p);
  });
}

std::size_t relaxed(const std::atomic<std::size_t>& a) { return a.load(std::memory_order_relaxed); }

}  // namespace

Shared::Shared(Config c)
    : config(std::move(c)),
      max_idle(max_idle_of(config)),
      backoff(config.backoff_initial, config.backoff_max) {}

bool Shared::try_reserve() {
  std::size_t n = open_.load(std::memory_order_relaxed);
  while (n < config.max_connections) {
    if (open_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void Shared::unreserve() {
  open_.fetch_sub(1, std::memory_order_relaxed);
  rebalance();
}

void Shared::add(ThreadPool* tp) {
  std::lock_guard<std::mutex> lock(mu_);
  threads_.push_back(tp);
}

void Shared::remove(ThreadPool* tp) {
  std::lock_guard<std::mutex> lock(mu_);
  threads_.erase(std::remove(threads_.begin(), threads_.end(), tp), threads_.end());
  // Its counters stay in the stats.
  const Counters& c = tp->counters;
  const auto keep = [](std::atomic<std::uint64_t>& to, const std::atomic<std::uint64_t>& from) {
    to.fetch_add(from.load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  keep(retired_.connects, c.connects);
  keep(retired_.connect_failures, c.connect_failures);
  keep(retired_.backoff_refusals, c.backoff_refusals);
  keep(retired_.discarded, c.discarded);
  keep(retired_.expired, c.expired);
  keep(retired_.health_check_failures, c.health_check_failures);
  keep(retired_.acquire_timeouts, c.acquire_timeouts);
  keep(retired_.waits, c.waits);
  keep(retired_.wait_ns_total, c.wait_ns_total);
  if (c.wait_ns_max > retired_.wait_ns_max) retired_.wait_ns_max.store(c.wait_ns_max);
}

namespace {
void add_counters(Pool::Stats& st, const Counters& c) {
  const auto get = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  st.connects += get(c.connects);
  st.connect_failures += get(c.connect_failures);
  st.backoff_refusals += get(c.backoff_refusals);
  st.discarded += get(c.discarded);
  st.expired += get(c.expired);
  st.health_check_failures += get(c.health_check_failures);
  st.acquire_timeouts += get(c.acquire_timeouts);
  st.waits += get(c.waits);
  st.wait_ns_total += get(c.wait_ns_total);
  st.wait_ns_max = std::max(st.wait_ns_max, get(c.wait_ns_max));
}
}  // namespace

Pool::Stats Shared::stats() {
  Pool::Stats st;
  std::lock_guard<std::mutex> lock(mu_);
  st.max_open = config.max_connections;
  st.open = open();
  st.threads = threads_.size();
  for (const ThreadPool* tp : threads_) {
    st.idle += relaxed(tp->idle_count);
    st.in_use += relaxed(tp->in_use);
    st.waiting += relaxed(tp->waiting);
    add_counters(st, tp->counters);
  }
  add_counters(st, retired_);
  return st;
}

void Shared::rebalance() {
  if (waiting_total.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  const std::size_t n = threads_.size();
  if (open() < config.max_connections) {
    for (std::size_t i = 0; i < n; ++i) {
      ThreadPool* tp = threads_[(next_ + i) % n];
      if (relaxed(tp->waiting) == 0) continue;
      next_ = (next_ + i + 1) % n;
      post_to(tp, [](ThreadPool& p) { p.serve_waiters(); });
      return;
    }
    return;
  }
  const bool starving = std::any_of(threads_.begin(), threads_.end(), [](ThreadPool* tp) {
    return relaxed(tp->waiting) > 0 && relaxed(tp->in_use) == 0 && relaxed(tp->idle_count) == 0;
  });
  if (!starving) return;
  for (ThreadPool* tp : threads_) {
    if (relaxed(tp->idle_count) == 0) continue;
    post_to(tp, [](ThreadPool& p) { p.shed_idle(); });
    return;
  }
}

bool Shared::starving_elsewhere(const ThreadPool* self) {
  if (waiting_total.load(std::memory_order_relaxed) <= relaxed(self->waiting)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return std::any_of(threads_.begin(), threads_.end(), [self](ThreadPool* tp) {
    return tp != self && relaxed(tp->waiting) > 0 && relaxed(tp->in_use) == 0 &&
           relaxed(tp->idle_count) == 0;
  });
}

void Shared::shutdown(const ThreadPool* self) {
  std::lock_guard<std::mutex> lock(mu_);
  for (ThreadPool* tp : threads_) {
    if (tp != self) post_to(tp, [](ThreadPool& p) { p.close_all_idle(); });
  }
}

}  // namespace co::mysql::detail
