// Mutex, CondVar, Semaphore and WaitGroup: thin policies over WaitQueue.
#include <errno.h>

#include <stdexcept>
#include <system_error>

#include "cofcgi/runtime/cancel.h"
#include "cofcgi/runtime/cond_var.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/mutex.h"
#include "cofcgi/runtime/semaphore.h"
#include "cofcgi/runtime/wait_group.h"
#include "scheduler.h"

namespace co {
namespace {

const void* me() { return detail::Scheduler::get().current(); }

[[noreturn]] void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

}  // namespace

Mutex::~Mutex() {
  if (locked_) log_printf(LogLevel::error, "co::Mutex destroyed while locked");
}

void Mutex::lock() {
  if (!try_lock_until(kNoDeadline))
    throw_errno(EOWNERDEAD, "co::Mutex destroyed while waiting for it");
}

bool Mutex::try_lock() {
  if (locked_) return false;
  locked_ = true;
  owner_ = me();
  return true;
}

bool Mutex::try_lock_until(Deadline deadline) {
  if (try_lock()) return true;
  if (owner_ == me()) throw_errno(EDEADLK, "co::Mutex locked twice by the same coroutine");
  // unlock() hands ownership straight to the woken waiter (FIFO, no barging), so being
  // notified means owning; a timeout or a destroyed mutex means not. Cancelled waiters are
  // never handed the mutex: wake_one only picks parked ones.
  const WakeReason reason = waiters_.wait(deadline);
  detail::throw_if_interrupted(reason, "co::Mutex::lock");
  return reason == WakeReason::notified;
}

void Mutex::unlock() {
  if (!locked_ || owner_ != me()) {
    throw_errno(EPERM, "co::Mutex unlocked by a coroutine that does not hold it");
  }
  if (const void* next = waiters_.wake_one()) {
    owner_ = next;
    return;
  }
  locked_ = false;
  owner_ = nullptr;
}

void CondVar::wait(std::unique_lock<Mutex>& lock) { (void)wait_until(lock, kNoDeadline); }

bool CondVar::wait_until(std::unique_lock<Mutex>& lock, Deadline deadline) {
  if (!lock.owns_lock()) throw_errno(EPERM, "co::CondVar::wait needs a locked unique_lock");
  lock.unlock();
  const WakeReason reason = waiters_.wait(deadline);
  {
    // The caller holds the lock again whatever happened, as std::condition_variable
    // promises, also when the wait was cut short by cancellation.
    const CancelShield shield;
    lock.lock();
  }
  detail::throw_if_interrupted(reason, "co::CondVar::wait");
  return reason == WakeReason::notified;
}

bool CondVar::wait_until(Deadline deadline) {
  const WakeReason reason = waiters_.wait(deadline);
  detail::throw_if_interrupted(reason, "co::CondVar::wait");
  return reason == WakeReason::notified;
}

void Semaphore::acquire() {
  if (!try_acquire_until(kNoDeadline))
    throw_errno(EOWNERDEAD, "co::Semaphore destroyed while waiting for it");
}

bool Semaphore::try_acquire() {
  if (count_ == 0) return false;
  --count_;
  return true;
}

bool Semaphore::try_acquire_until(Deadline deadline) {
  // No barging: while others wait, a newcomer queues behind them.
  if (waiters_.empty() && try_acquire()) return true;
  // release() hands a unit straight to the woken waiter (as Mutex does), so being notified
  // means owning one; a coroutine that releases and re-acquires at once cannot starve it.
  const WakeReason reason = waiters_.wait(deadline);
  detail::throw_if_interrupted(reason, "co::Semaphore::acquire");
  return reason == WakeReason::notified;
}

void Semaphore::release(std::size_t n) {
  for (; n > 0; --n) {
    if (waiters_.wake_one() == nullptr) {
      count_ += n;
      return;
    }
  }
}

void WaitGroup::done() {
  if (count_ == 0) throw std::logic_error("co::WaitGroup::done called more often than add");
  if (--count_ == 0) waiters_.notify_all();
}

void WaitGroup::wait() {
  while (count_ > 0) {
    const WakeReason reason = waiters_.wait();
    detail::throw_if_interrupted(reason, "co::WaitGroup::wait");
    if (reason == WakeReason::closed) return;
  }
}

}  // namespace co
