// CondVar: wait for a condition, parking the coroutine. Works with co::Mutex through
// std::unique_lock, or with no mutex at all (coroutines of one thread cannot interleave
// between a check and the wait, which is what libco's co_cond_* rely on).
#pragma once

#include <chrono>
#include <mutex>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/mutex.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co {

class COFCGI_API CondVar {
 public:
  // wait unlocks `lock`, parks until notified, and locks again. Only from a coroutine.
  void wait(std::unique_lock<Mutex>& lock);
  template <typename Predicate>
  void wait(std::unique_lock<Mutex>& lock, Predicate done) {
    while (!done()) wait(lock);
  }
  // wait_until returns false when the deadline passed without a notification.
  bool wait_until(std::unique_lock<Mutex>& lock, Deadline deadline);
  template <typename Rep, typename Period>
  bool wait_for(std::unique_lock<Mutex>& lock, std::chrono::duration<Rep, Period> d) {
    return wait_until(lock,
                      deadline_after(std::chrono::duration_cast<std::chrono::nanoseconds>(d)));
  }
  // Without a mutex (single-thread coroutines): returns false on timeout.
  bool wait_until(Deadline deadline = kNoDeadline);

  // The woken coroutine is queued at once and runs as soon as the notifier parks or yields,
  // before the loop sleeps or fires timers (libco's co_cond_signal waited for the next
  // epoll round).
  bool notify_one() { return waiters_.notify_one(); }
  void notify_all() { waiters_.notify_all(); }

 private:
  WaitQueue waiters_;
};

}  // namespace co
