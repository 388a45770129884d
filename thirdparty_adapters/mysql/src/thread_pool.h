// detail::ThreadPool: one thread's part of a co::mysql::Pool: its idle connections, its
// coroutines parked in acquire(), and the counters the Pool's stats add up. A MYSQL* stays
// on the thread that opened it and WaitQueue parks coroutines of one thread, so all of this
// is used from its own thread only, except the atomics (read by Shared for stats and
// rebalancing) and the tasks other threads post to its scheduler.
//
// Connections on this thread: idle (in `idle_`) -> lent (a Connection holds it) -> back to
// idle (make_reusable) or closed. A waiter gets either an idle connection or one unit of the
// budget (it then opens a connection itself), handed to it directly, oldest waiter first.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/wait_queue.h"
#include "pool_shared.h"
#include "pooled_connection.h"

namespace co::mysql::detail {

// A coroutine parked in acquire(). On the heap, not on the coroutine's stack (a parked
// coroutine's stack may be copied away in shared-stack mode).
struct Waiter {
  PooledConnection* connection = nullptr;  // handed an idle connection
  bool budget = false;                     // handed a budget unit: opens a connection
  // Its own connect failed (or the backoff refused it) while connections of this thread
  // were lent: it waits for one of them, and gets a budget unit only when none is lent.
  bool connection_only = false;
  bool granted() const { return connection != nullptr || budget; }
  WaitQueue queue;
};

struct ThreadPool : std::enable_shared_from_this<ThreadPool> {
  explicit ThreadPool(std::shared_ptr<Shared> s);
  ~ThreadPool();  // closes the idle connections
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // acquire/release: Pool::acquire and the end of a lease, on this thread.
  PooledConnection* acquire(std::chrono::milliseconds timeout);
  void release(PooledConnection* c) noexcept;

  // serve_waiters hands idle connections, then free budget, to the parked coroutines.
  void serve_waiters();
  // shed_idle closes one idle connection: a coroutine of another thread needs its budget.
  void shed_idle();
  // close_all_idle closes the idle connections; after the Pool is gone it also wakes the
  // waiters (they get an error).
  void close_all_idle();

  const std::shared_ptr<Shared> shared;
  const std::thread::id owner = std::this_thread::get_id();
  const co::Executor executor = co::Executor::current();

  // Read by other threads (relaxed; written by this thread only).
  std::atomic<std::size_t> open{0};  // this thread's connections, incl. being opened
  std::atomic<std::size_t> idle_count{0};
  std::atomic<std::size_t> in_use{0};
  std::atomic<std::size_t> waiting{0};
  Counters counters;

 private:
  PooledConnection* take_idle(Deadline deadline);
  PooledConnection* open_new(Deadline deadline);  // holds a budget unit
  PooledConnection* lend(Deadline deadline, std::chrono::milliseconds timeout);
  // connect_or_wait opens a connection with the budget unit the caller holds; nullptr (and
  // connection_only set) when it failed but lent connections can serve the caller instead.
  PooledConnection* connect_or_wait(Deadline deadline, bool& connection_only);
  // wait_for_grant parks until the caller is handed a checked connection, or a budget unit
  // (nullptr: connect with it).
  PooledConnection* wait_for_grant(std::chrono::milliseconds timeout, bool connection_only);
  void grant(Waiter& w);
  void close(PooledConnection* c, bool keep_budget);
  void close_expired_idle();
  void add_idle(PooledConnection* c);
  PooledConnection* pop_idle();
  Deadline check_deadline() const;

  std::deque<std::shared_ptr<Waiter>> waiters_;  // FIFO
  std::deque<PooledConnection*> idle_;           // oldest first; lent from the back
  std::size_t lent_ = 0;  // open connections lent (between acquire and release)
};

// thread_pool_for: the calling thread's ThreadPool of `shared`, created on first use when
// `create` (else nullptr). The calling thread keeps it until it exits (then its idle
// connections are closed there). Once the thread's thread_locals are being destroyed:
// nullptr, or Error when `create` (a Pool in a thread_local may be destroyed after them).
std::shared_ptr<ThreadPool> thread_pool_for(const std::shared_ptr<Shared>& shared, bool create);

}  // namespace co::mysql::detail
