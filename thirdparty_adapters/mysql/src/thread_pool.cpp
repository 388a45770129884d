// detail::ThreadPool: one thread's part of a co::mysql::Pool (see thread_pool.h).
#include "thread_pool.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cofcgi/runtime/cancel.h"
#include "connect.h"
#include "interrupted.h"

namespace co::mysql::detail {

namespace {

void add_max(std::atomic<std::uint64_t>& max, std::uint64_t v) {
  if (v > max.load(std::memory_order_relaxed)) max.store(v, std::memory_order_relaxed);
}

// Plain counters: each has one writing thread, so increments need no read-modify-write.
template <class T>
void bump(std::atomic<T>& a, T by = 1) {
  a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
template <class T>
void drop(std::atomic<T>& a, T by = 1) {
  a.store(a.load(std::memory_order_relaxed) - by, std::memory_order_relaxed);
}

}  // namespace

ThreadPool::ThreadPool(std::shared_ptr<Shared> s) : shared(std::move(s)) { shared->add(this); }

ThreadPool::~ThreadPool() {
  shared->remove(this);
  for (PooledConnection* c : idle_) {
    shared->idle_total.fetch_sub(1, std::memory_order_relaxed);
    delete c;
    shared->unreserve();
  }
}

Deadline ThreadPool::check_deadline() const {
  const auto t = shared->config.connect_timeout;
  return t.count() > 0 ? deadline_after(t) : kNoDeadline;
}

void ThreadPool::add_idle(PooledConnection* c) {
  c->idle_since = now_ns();
  c->raw_access = false;
  idle_.push_back(c);
  bump(idle_count, std::size_t{1});
  shared->idle_total.fetch_add(1, std::memory_order_relaxed);
}

PooledConnection* ThreadPool::pop_idle() {
  PooledConnection* c = idle_.back();
  idle_.pop_back();
  drop(idle_count, std::size_t{1});
  shared->idle_total.fetch_sub(1, std::memory_order_relaxed);
  return c;
}

void ThreadPool::close(PooledConnection* c, bool keep_budget) {
  delete c;
  drop(open, std::size_t{1});
  if (keep_budget) return;
  shared->unreserve();
  serve_waiters();  // this thread's waiters first: the budget unit is here
}

void ThreadPool::close_expired_idle() {
  const auto timeout = shared->config.idle_timeout;
  if (timeout.count() <= 0) return;
  const Deadline oldest_allowed = now_ns() - std::chrono::nanoseconds(timeout).count();
  while (!idle_.empty() && idle_.front()->idle_since < oldest_allowed &&
         shared->idle_total.load(std::memory_order_relaxed) > shared->config.min_idle) {
    PooledConnection* c = idle_.front();
    idle_.pop_front();
    drop(idle_count, std::size_t{1});
    shared->idle_total.fetch_sub(1, std::memory_order_relaxed);
    bump(counters.expired, std::uint64_t{1});
    close(c, false);
  }
}

PooledConnection* ThreadPool::take_idle(Deadline deadline) {
  while (!idle_.empty()) {
    PooledConnection* c = pop_idle();
    bump(in_use, std::size_t{1});  // lent while checked: healthy() may park (mysql_ping)
    if (healthy(shared->config, *c, deadline)) return c;
    drop(in_use, std::size_t{1});
    bump(counters.health_check_failures, std::uint64_t{1});
    close(c, false);
  }
  return nullptr;
}

PooledConnection* ThreadPool::open_new(Deadline deadline) {
  std::string why;
  unsigned code = 0;
  if (shared->backoff.admit(why, code) == Backoff::Admit::refuse) {
    shared->unreserve();
    bump(counters.backoff_refusals, std::uint64_t{1});
    throw Error(code, "08001", "co::mysql::Pool: " + why);
  }
  bump(open, std::size_t{1});
  bump(in_use, std::size_t{1});
  MYSQL* m = nullptr;
  bool session_tracked = false;
  const Deadline started = now_ns();
  try {
    m = open_connection(shared->config, deadline, &session_tracked);
  } catch (const Error& e) {
    drop(open, std::size_t{1});
    drop(in_use, std::size_t{1});
    bump(counters.connect_failures, std::uint64_t{1});
    std::string what = e.what();
    const std::string prefix = "co::mysql::Pool: ";
    if (what.compare(0, prefix.size(), prefix) == 0) what.erase(0, prefix.size());
    // Cut short by this coroutine's own cancel or deadline: nothing is known about the
    // server, so the others are not refused for it (the backoff is for a server that fails).
    if (co::interruption() == 0)
      shared->backoff.failed(e.code(), what, std::chrono::nanoseconds(now_ns() - started));
    shared->unreserve();
    throw;
  }
  shared->backoff.succeeded();
  bump(counters.connects, std::uint64_t{1});
  auto* c = new PooledConnection(m, shared->config.statement_cache_size, now_ns());
  c->session_tracked = session_tracked;
  return c;
}

PooledConnection* ThreadPool::acquire(std::chrono::milliseconds timeout) {
  if (shared->closed) throw Error(0, "HY000", "co::mysql::Pool used after it was destroyed");
  throw_if_interrupted("acquire");  // a connection lent now could not be used
  close_expired_idle();
  PooledConnection* c = lend(check_deadline(), timeout);
  ++lent_;
  return c;
}

PooledConnection* ThreadPool::lend(Deadline deadline, std::chrono::milliseconds timeout) {
  bool connection_only = false;
  if (waiters_.empty()) {
    if (PooledConnection* c = take_idle(deadline)) return c;
    if (shared->try_reserve()) {
      if (PooledConnection* c = connect_or_wait(deadline, connection_only)) return c;
    }
  }
  for (;;) {
    PooledConnection* c = wait_for_grant(timeout, connection_only);
    if (c == nullptr) c = connect_or_wait(check_deadline(), connection_only);  // a budget unit
    if (c) return c;
  }
}

PooledConnection* ThreadPool::connect_or_wait(Deadline deadline, bool& connection_only) {
  try {
    return open_new(deadline);
  } catch (const Error&) {
    // Refused by the backoff, or the connect failed, while connections of this thread are
    // lent: the server answers those, and they come back, so wait for one instead of
    // failing this request (a lost handshake under load is not a server that is down). If
    // the server is down they fail too; once none is lent the waiter gets a budget unit,
    // connects once more and throws then: a crash still fails fast.
    if (co::interruption() != 0 || lent_ == 0) throw;
    connection_only = true;
    return nullptr;
  }
}

PooledConnection* ThreadPool::wait_for_grant(std::chrono::milliseconds timeout,
                                             bool connection_only) {
  const Deadline start = now_ns();
  const Deadline deadline = deadline_after(timeout);
  auto w = std::make_shared<Waiter>();
  w->connection_only = connection_only;
  waiters_.push_back(w);
  bump(waiting, std::size_t{1});
  shared->waiting_total.fetch_add(1, std::memory_order_relaxed);
  bump(counters.waits, std::uint64_t{1});
  // Leaving without using a grant: out of the queue, and give back what was handed over.
  auto leave = [&] {
    const auto it = std::find(waiters_.begin(), waiters_.end(), w);
    if (it != waiters_.end()) {
      waiters_.erase(it);
      drop(waiting, std::size_t{1});
      shared->waiting_total.fetch_sub(1, std::memory_order_relaxed);
    }
    if (w->connection) {
      ++lent_;  // handed over, so lent: release() takes it back as any other
      release(std::exchange(w->connection, nullptr));
    }
    if (std::exchange(w->budget, false)) {
      drop(in_use, std::size_t{1});
      shared->unreserve();
      serve_waiters();
    }
  };
  shared->rebalance();  // budget or idle connections elsewhere
  while (!w->granted()) {
    if (shared->closed) {
      leave();
      throw Error(0, "HY000", "co::mysql::Pool destroyed while waiting in acquire()");
    }
    WakeReason reason;
    try {
      reason = w->queue.wait(deadline);  // EPERM outside a coroutine
    } catch (...) {
      leave();
      throw;
    }
    if (w->granted()) break;
    if (reason == WakeReason::timeout) {
      leave();
      bump(counters.acquire_timeouts, std::uint64_t{1});
      char buf[200];
      std::snprintf(buf, sizeof buf,
                    "co::mysql::Pool: no connection free within %lld ms (max_connections=%zu, "
                    "all lent to other coroutines)",
                    static_cast<long long>(timeout.count()), shared->config.max_connections);
      throw AcquireTimeout(buf);
    }
    if (reason != WakeReason::notified) {  // cancelled, the coroutine's deadline, closed
      leave();
      throw Error(0, "HY008",
                  "co::mysql::Pool: acquire() interrupted (coroutine cancelled or past its "
                  "deadline)");
    }
  }
  const auto waited = static_cast<std::uint64_t>(now_ns() - start);
  bump(counters.wait_ns_total, waited);
  add_max(counters.wait_ns_max, waited);
  if (PooledConnection* c = std::exchange(w->connection, nullptr)) {
    if (healthy(shared->config, *c, check_deadline())) return c;
    bump(counters.health_check_failures, std::uint64_t{1});
    close(c, true);  // its budget unit stays with this coroutine
  }
  w->budget = false;
  drop(in_use, std::size_t{1});  // open_new counts it again
  return nullptr;
}

void ThreadPool::grant(Waiter& w) {
  drop(waiting, std::size_t{1});
  shared->waiting_total.fetch_sub(1, std::memory_order_relaxed);
  bump(in_use, std::size_t{1});
  w.queue.notify_one();
}

void ThreadPool::serve_waiters() {
  if (shared->closed) {
    for (auto& w : waiters_) w->queue.notify_all();  // they see `closed` and leave
    return;
  }
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    Waiter& w = **it;
    if (!idle_.empty()) {
      w.connection = pop_idle();
    } else if (w.connection_only && lent_ > 0) {
      ++it;  // waits for a lent connection; those behind it may take budget
      continue;
    } else if (shared->try_reserve()) {
      w.budget = true;
    } else {
      return;
    }
    const std::shared_ptr<Waiter> served = *it;
    it = waiters_.erase(it);
    grant(*served);
  }
}

void ThreadPool::release(PooledConnection* c) noexcept {
  --lent_;
  bool keep = false;
  try {
    // Also when the lease's coroutine was cancelled or is past its deadline (a handler whose
    // client went away): the reset is the pool's clean-up, bounded by its own deadline.
    const CancelShield shield;
    keep = !shared->closed && make_reusable(shared->config, *c, check_deadline());  // parks
  } catch (...) {
    keep = false;
  }
  drop(in_use, std::size_t{1});
  if (!keep) {
    if (!shared->closed) bump(counters.discarded, std::uint64_t{1});
    close(c, false);
    return;
  }
  // A thread whose waiters have no connection to wait for gets this one's budget.
  if (shared->starving_elsewhere(this)) {
    close(c, false);
    return;
  }
  if (!waiters_.empty()) {
    std::shared_ptr<Waiter> w = waiters_.front();
    waiters_.pop_front();
    w->connection = c;
    grant(*w);
    return;
  }
  if (shared->idle_total.load(std::memory_order_relaxed) >= shared->max_idle) {
    close(c, false);
    return;
  }
  add_idle(c);
  close_expired_idle();
}

void ThreadPool::shed_idle() {
  if (idle_.empty()) return;
  PooledConnection* c = idle_.front();  // the oldest
  idle_.pop_front();
  drop(idle_count, std::size_t{1});
  shared->idle_total.fetch_sub(1, std::memory_order_relaxed);
  close(c, false);
}

void ThreadPool::close_all_idle() {
  while (!idle_.empty()) shed_idle();
  if (shared->closed) serve_waiters();
}

namespace {

// A thread's registry of its parts of pools. Why thread_local: a thread's part of a pool
// holds MYSQL handles of this thread; it must be found without a lock on every acquire and
// end with the thread, closing them here.
struct Registry {
  // live -> gone when the thread's thread_locals are destroyed. A Pool may be destroyed
  // after that (a Pool in a thread_local made before the registry): it must not touch it.
  enum class State : unsigned char { live, gone };
  // Trivially destructible: still readable while the thread's other thread_locals go.
  static thread_local State state;
  std::vector<std::shared_ptr<ThreadPool>> pools;
  ~Registry() {
    state = State::gone;
    pools.clear();  // closes their idle connections
  }
};
thread_local Registry::State Registry::state = Registry::State::live;

}  // namespace

std::shared_ptr<ThreadPool> thread_pool_for(const std::shared_ptr<Shared>& shared, bool create) {
  if (Registry::state == Registry::State::gone) {
    if (create) throw Error(0, "HY000", "co::mysql::Pool used while its thread exits");
    return nullptr;  // this thread's part is gone already, its connections closed
  }
  // Made before the registry so they are destroyed after it: closing the connections at
  // thread exit needs libmariadb's thread state and this thread's scheduler (the hooks).
  if (create) {
    thread_init();
    (void)co::Executor::current();
  }
  thread_local Registry registry;
  for (const auto& tp : registry.pools) {
    if (tp->shared == shared) return tp;
  }
  if (!create) return nullptr;
  // Parts of pools that were destroyed and have nothing lent go now.
  std::erase_if(registry.pools, [](const std::shared_ptr<ThreadPool>& tp) {
    return tp->shared->closed && tp->in_use.load(std::memory_order_relaxed) == 0;
  });
  registry.pools.push_back(std::make_shared<ThreadPool>(shared));
  return registry.pools.back();
}

}  // namespace co::mysql::detail
