// Cancellation and deadlines of a coroutine (cofcgi/runtime/cancel.h): the handle, the
// scopes, and the check the park primitive makes (scheduler.cpp).
#include "cancel.h"

#include <errno.h>

#include <algorithm>
#include <system_error>

#include "cofcgi/runtime/cancel.h"
#include "scheduler.h"

namespace co {
namespace detail {

WakeReason refusal(const Coroutine* co) {
  if (co->cancel_requested) return WakeReason::cancelled;
  if (co->scope_deadline != kNoDeadline && now_ns() >= co->scope_deadline)
    return WakeReason::deadline_exceeded;
  return WakeReason::notified;
}

void cancel_coroutine(Coroutine* co) {
  co->cancel_requested = true;
  if (co->cancel_shields == 0) Scheduler::get().make_ready(co, WakeReason::cancelled);
}

namespace {
void release(CancelTarget* target) {
  if (target != nullptr && --target->refs == 0) delete target;
}
}  // namespace

void forget_cancel_state(Coroutine* co) {
  if (CancelTarget* target = co->cancel_target) {
    target->co = nullptr;
    co->cancel_target = nullptr;
    release(target);
  }
  co->cancel_requested = false;
  co->scope_deadline = kNoDeadline;
  co->cancel_shields = 0;
}

void throw_if_interrupted(WakeReason reason, const char* what) {
  const int err = interruption_errno(reason);
  if (err != 0) throw std::system_error(err, std::generic_category(), what);
}

}  // namespace detail

using detail::CancelTarget;
using detail::Coroutine;
using detail::Scheduler;

CancelHandle::CancelHandle(const CancelHandle& other) : target_(other.target_) {
  if (target_ != nullptr) ++target_->refs;
}

CancelHandle& CancelHandle::operator=(const CancelHandle& other) {
  CancelHandle copy(other);
  std::swap(target_, copy.target_);
  return *this;
}

CancelHandle& CancelHandle::operator=(CancelHandle&& other) noexcept {
  std::swap(target_, other.target_);
  return *this;
}

CancelHandle::~CancelHandle() { detail::release(target_); }

CancelHandle CancelHandle::current() {
  Coroutine* co = Scheduler::get().current();
  if (co->is_thread_main) return CancelHandle();
  if (co->cancel_target == nullptr) co->cancel_target = new CancelTarget{co, 1};
  ++co->cancel_target->refs;
  return CancelHandle(co->cancel_target);
}

bool CancelHandle::cancel() const {
  if (!alive()) return false;
  detail::cancel_coroutine(target_->co);
  return true;
}

bool CancelHandle::alive() const { return target_ != nullptr && target_->co != nullptr; }

bool cancelled() { return Scheduler::get().current()->cancel_requested; }

Deadline current_deadline() { return Scheduler::get().current()->scope_deadline; }

int interruption() {
  const Coroutine* co = Scheduler::get().current();
  if (co->cancel_shields > 0) return 0;
  return interruption_errno(detail::refusal(co));
}

int interruption_errno(WakeReason reason) {
  switch (reason) {
    case WakeReason::cancelled: return ECANCELED;
    case WakeReason::deadline_exceeded: return ETIMEDOUT;
    case WakeReason::notified:
    case WakeReason::timeout:
    case WakeReason::closed: break;
  }
  return 0;
}

DeadlineScope::DeadlineScope(std::chrono::nanoseconds timeout)
    : DeadlineScope(Absolute{}, deadline_after(timeout)) {}

DeadlineScope::DeadlineScope(Absolute, Deadline deadline) {
  Coroutine* co = Scheduler::get().current();
  coroutine_ = co;
  previous_ = co->scope_deadline;
  co->scope_deadline = std::min(previous_, deadline);
}

DeadlineScope::~DeadlineScope() { static_cast<Coroutine*>(coroutine_)->scope_deadline = previous_; }

CancelShield::CancelShield() {
  Coroutine* co = Scheduler::get().current();
  coroutine_ = co;
  ++co->cancel_shields;
}

CancelShield::~CancelShield() { --static_cast<Coroutine*>(coroutine_)->cancel_shields; }

}  // namespace co
