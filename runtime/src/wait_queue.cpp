#include "cofcgi/runtime/wait_queue.h"

#include "cofcgi/runtime/log.h"
#include "intrusive_list.h"
#include "scheduler.h"

namespace co {
namespace detail {
void require_coroutine(const char* what);
}  // namespace detail

using detail::Coroutine;
using detail::ListNode;
using detail::Waiter;

WaitQueue::~WaitQueue() {
  if (empty()) return;
  log_printf(LogLevel::error,
             "a wait queue (mutex, condition, channel...) was destroyed with "
             "coroutines waiting on it; they are woken with an error");
  while (ListNode* node = detail::list_pop_front(head_)) {
    detail::Scheduler::get().make_ready(detail::container_of<Waiter, &Waiter::link>(node)->co,
                                        WakeReason::closed);
  }
}

WakeReason WaitQueue::wait(Deadline deadline) {
  detail::Scheduler* sched = detail::Scheduler::get_if_exists();
  // The check inline, the throw out of line: this is every primitive's park path.
  if (sched == nullptr || !sched->in_coroutine()) [[unlikely]]
    detail::require_coroutine("waiting on a co::Mutex/CondVar/Semaphore/Channel/WaitGroup");
  detail::list_push_back(head_, sched->current()->waiter.link);
  return sched->park(deadline);
}

const void* WaitQueue::wake_one() {
  // Waiters that already woke by timeout are still linked until they run; skip them.
  while (ListNode* node = detail::list_pop_front(head_)) {
    Coroutine* co = detail::container_of<Waiter, &Waiter::link>(node)->co;
    if (co->state == detail::CoState::parked) {
      detail::Scheduler::get().make_ready(co, WakeReason::notified);
      return co;
    }
  }
  return nullptr;
}

void WaitQueue::notify_all() {
  while (notify_one()) {
  }
}

}  // namespace co
