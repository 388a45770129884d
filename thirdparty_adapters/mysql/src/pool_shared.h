// detail::Shared: what the threads of one co::mysql::Pool share: the configuration, the
// process-wide budget of open connections, the backoff while the server is down, the
// registry of per-thread pools (ThreadPool, thread_pool.h) and the handing of budget between
// them. Everything here is thread-safe; each ThreadPool's own state is not.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "backoff.h"
#include "cofcgi/adapters/mysql_pool.h"

namespace co::mysql::detail {

struct ThreadPool;

// A ThreadPool's event counters: written by its thread only, read by Shared::stats.
struct Counters {
  std::atomic<std::uint64_t> connects{0}, connect_failures{0}, backoff_refusals{0}, discarded{0},
      expired{0}, health_check_failures{0}, acquire_timeouts{0}, waits{0}, wait_ns_total{0},
      wait_ns_max{0};
};

struct Shared {
  explicit Shared(Config c);

  const Config config;
  const std::size_t max_idle;
  Backoff backoff;
  // The Pool is gone: connections are closed when returned, waiters get an error.
  std::atomic<bool> closed{false};

  // The budget: connections that exist or are being opened, on all threads together.
  // try_reserve takes one unit when fewer than max_connections are out; unreserve gives it
  // back (a connection was closed or failed to open) and lets a thread that waits have it.
  bool try_reserve();
  void unreserve();
  std::size_t open() const { return open_.load(std::memory_order_relaxed); }

  // Counted by the ThreadPools, read by anyone.
  std::atomic<std::size_t> idle_total{0};
  std::atomic<std::size_t> waiting_total{0};

  // The per-thread pools, for stats and for handing budget across threads.
  void add(ThreadPool* tp);
  void remove(ThreadPool* tp);
  Pool::Stats stats();

  // rebalance runs when coroutines wait somewhere: budget that is free goes to a thread with
  // waiters; with none free, a thread whose waiters have nothing to wait for (none of its
  // connections is lent) gets one of another thread's idle connections closed for it.
  // Work for another thread is posted to its scheduler (co::Executor::post).
  void rebalance();
  // starving_elsewhere: a thread other than `self` has waiters and no connection of its own
  // lent (only a connection closed elsewhere can serve it).
  bool starving_elsewhere(const ThreadPool* self);
  // shutdown: the Pool is being destroyed: every thread closes its idle connections and
  // wakes its waiters (on its own thread).
  void shutdown(const ThreadPool* self);

 private:
  std::atomic<std::size_t> open_{0};
  std::mutex mu_;                     // guards threads_, next_
  std::vector<ThreadPool*> threads_;  // each removes itself when destroyed
  std::size_t next_ = 0;              // round robin start for rebalance
  Counters retired_;                  // of ThreadPools that are gone (threads that ended)
};

}  // namespace co::mysql::detail
