// Cancellation and deadlines of a coroutine. A coroutine carries a cancel flag and a deadline
// (the earliest of its open DeadlineScopes); the scheduler's park checks both, so every wait
// — a co:: primitive, co::wait_fd/poll_fds, and through them every hooked libc call — fails
// instead of parking once the coroutine is cancelled or its deadline has passed, and a wait
// already parked is woken when it happens. A call that completes without waiting (data
// already there, a free mutex) still completes: only waiting is refused.
//
// What a wait reports when it is refused (WakeReason::cancelled / deadline_exceeded):
//   - hooked libc calls, co::poll_fds, libco's co_poll and co_cond_timedwait: -1 with errno
//     ECANCELED (cancelled) or ETIMEDOUT (deadline passed);
//   - co::wait_fd, co::park_until and WaitQueue::wait: the WakeReason itself;
//   - the C++ primitives (Mutex, CondVar, Semaphore, Channel, WaitGroup, sleep_for/until):
//     std::system_error with ECANCELED or ETIMEDOUT. They throw rather than return false or
//     an empty optional so that a retry loop written for a timeout cannot spin on a wait
//     that now fails at once, and so that the unwinding reaches whoever set the scope.
// A coroutine's own timeouts (SO_RCVTIMEO, try_lock_for, a poll timeout) keep their usual
// result; only the coroutine's deadline gives ETIMEDOUT.
//
// All of it is per thread, like the rest of the runtime: a CancelHandle is used from the
// coroutine's own thread (from another one, post the cancel with co::Executor::post).
#pragma once

#include <chrono>
#include <cstdint>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co {

namespace detail {
struct CancelTarget;
// throw_if_interrupted throws std::system_error(ECANCELED/ETIMEDOUT) for a wait that was
// refused or woken by cancellation or the coroutine's deadline; any other reason returns.
COFCGI_API void throw_if_interrupted(WakeReason reason, const char* what);
}  // namespace detail

// CancelHandle names one coroutine for cancel(). It stays safe to use after the coroutine
// ended (cancel() then returns false). Copyable; an empty handle cancels nothing.
class COFCGI_API CancelHandle {
 public:
  CancelHandle() = default;
  CancelHandle(const CancelHandle& other);
  CancelHandle& operator=(const CancelHandle& other);
  CancelHandle(CancelHandle&& other) noexcept : target_(other.target_) { other.target_ = nullptr; }
  CancelHandle& operator=(CancelHandle&& other) noexcept;
  ~CancelHandle();

  // current is the handle of the calling coroutine (an empty handle on the thread's own
  // stack).
  static CancelHandle current();

  // cancel sets the coroutine's cancel flag for good and wakes it if it is parked; its
  // current and every later wait fails with ECANCELED. Returns false when the coroutine has
  // ended (or the handle is empty). Call it on the coroutine's thread.
  bool cancel() const;
  // alive tells whether the coroutine still exists.
  bool alive() const;

 private:
  explicit CancelHandle(detail::CancelTarget* target) : target_(target) {}
  detail::CancelTarget* target_ = nullptr;
};

// cancelled tells whether the calling coroutine was cancelled.
COFCGI_API bool cancelled();
// current_deadline is the calling coroutine's deadline (the earliest open DeadlineScope),
// kNoDeadline when none is open.
COFCGI_API Deadline current_deadline();
// interruption is what the calling coroutine's next wait would fail with: ECANCELED,
// ETIMEDOUT (its deadline passed), or 0. Inside a CancelShield: 0. For CPU-bound loops that
// want to stop in time too.
COFCGI_API int interruption();
// interruption_errno maps a WakeReason to ECANCELED or ETIMEDOUT, and any other reason to 0.
COFCGI_API int interruption_errno(WakeReason reason);

// DeadlineScope gives the calling coroutine a deadline while it lives: every wait inside it
// fails with ETIMEDOUT once the deadline has passed (a parked one is woken then). Nested
// scopes keep the earliest deadline; the destructor puts back the one before. A timeout of
// zero or less has passed already: the first wait fails at once, without parking. Create
// and destroy it on the same coroutine, as a local.
//   { co::DeadlineScope d(200ms); auto r = conn.query("SELECT ..."); }  // ETIMEDOUT inside
class COFCGI_API DeadlineScope {
 public:
  explicit DeadlineScope(std::chrono::nanoseconds timeout);
  // until takes an absolute deadline on the monotonic clock (co::now_ns()).
  static DeadlineScope until(Deadline deadline) { return DeadlineScope(Absolute{}, deadline); }
  ~DeadlineScope();
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

 private:
  struct Absolute {};
  DeadlineScope(Absolute, Deadline deadline);
  void* coroutine_;
  Deadline previous_;
};

// CancelShield suspends the calling coroutine's cancel flag and deadline while it lives:
// waits inside it park as if neither were set (the flag stays set, and the deadline stays,
// for after the shield). For clean-up that must finish even in a cancelled coroutine: a
// final write, a rollback, an orderly close. Give what it runs a bound of its own (a
// socket timeout) — nothing else ends it.
class COFCGI_API CancelShield {
 public:
  CancelShield();
  ~CancelShield();
  CancelShield(const CancelShield&) = delete;
  CancelShield& operator=(const CancelShield&) = delete;

 private:
  void* coroutine_;
};

}  // namespace co
