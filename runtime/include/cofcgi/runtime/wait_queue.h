// WaitQueue: the building block of every parking primitive (Mutex, CondVar, Channel, ...).
// A FIFO of parked coroutines of one thread. Coroutines never migrate threads, so a
// WaitQueue must only be used by coroutines of the thread that first parks on it.
#pragma once

#include <chrono>
#include <cstdint>

#include "cofcgi/runtime/export.h"

namespace co {

namespace detail {
struct ListNode {
  ListNode* prev = this;
  ListNode* next = this;
  bool linked() const { return next != this; }
};
}  // namespace detail

// Why a parked coroutine woke up.
enum class WakeReason : std::uint8_t {
  notified,  // notify_one/notify_all, or the fd became ready
  timeout,   // the deadline passed
  closed,    // the fd was closed, or the primitive destroyed, while waiting
  // The coroutine was cancelled (co::CancelHandle::cancel): the wait was refused or cut
  // short. Reported as ECANCELED (cofcgi/runtime/cancel.h).
  cancelled,
  // The coroutine's deadline (co::DeadlineScope) passed: reported as ETIMEDOUT. A wait's
  // own deadline passing is `timeout`.
  deadline_exceeded,
};

// Deadlines are absolute points on the monotonic clock, in nanoseconds; kNoDeadline waits
// forever.
using Deadline = std::int64_t;
inline constexpr Deadline kNoDeadline = INT64_MAX;
COFCGI_API Deadline now_ns();  // CLOCK_MONOTONIC
COFCGI_API Deadline deadline_after(std::chrono::nanoseconds timeout);

class COFCGI_API WaitQueue {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  // Destroying a queue with waiters wakes them with WakeReason::closed and logs an error.
  ~WaitQueue();

  // wait parks the calling coroutine at the tail until notified or the deadline passes.
  // Call it only from a coroutine: elsewhere it throws std::system_error(EPERM). In a
  // cancelled coroutine, or past its DeadlineScope, it returns cancelled/deadline_exceeded
  // at once without parking: a caller that loops until some condition must stop on those.
  WakeReason wait(Deadline deadline = kNoDeadline);
  // notify_one makes the longest waiter ready (it runs when the current coroutine next
  // parks or yields); returns false when nobody waited.
  bool notify_one() { return wake_one() != nullptr; }
  void notify_all();
  // wake_one is notify_one returning the identity of the woken coroutine (nullptr when
  // nobody waited), for primitives that hand ownership over (Mutex).
  const void* wake_one();
  bool empty() const { return !head_.linked(); }

 private:
  detail::ListNode head_;
};

}  // namespace co
