// The netpoller's public face (cofcgi/runtime/netpoll.h): park on fds, wake on close, poll.
#include "cofcgi/runtime/netpoll.h"

#include <errno.h>

#include <memory>

#include "cofcgi/runtime/cancel.h"
#include "intrusive_list.h"
#include "scheduler.h"
#include "sys.h"

namespace co {

using detail::Coroutine;
using detail::FdWaiters;
using detail::Scheduler;
using detail::Waiter;

int wait_fd(int fd, std::uint32_t events, Deadline deadline, WakeReason* reason,
            std::uint64_t fd_generation) {
  Scheduler& sched = Scheduler::get();
  if (!sched.in_coroutine()) {
    errno = EPERM;
    return -1;
  }
  FdWaiters* w = sched.poller().waiters_for(fd, fd_generation);
  if (w == nullptr) {
    if (errno == EPERM) {  // a regular file or the like: never blocks
      *reason = WakeReason::notified;
      return 0;
    }
    return -1;
  }
  Coroutine* self = sched.current();
  const bool only_out = (events & POLLOUT) && !(events & POLLIN);
  detail::list_push_back(only_out ? w->writers : w->readers, self->waiter.link);
  // Both directions: also wait among the writers (a heap waiter, as poll_fds does), else
  // a writability edge alone would never wake us.
  std::unique_ptr<Waiter[]> write_waiter;
  if ((events & POLLOUT) && !only_out) {
    write_waiter.reset(new Waiter[1]);
    write_waiter[0].co = self;
    detail::list_push_back(w->writers, write_waiter[0].link);
    self->extra_waiters = write_waiter.get();
    self->extra_waiter_count = 1;
  }
  const WaitSite wait{WaitKind::fd, static_cast<std::uint16_t>(events), fd, 1};
  const detail::WaitSiteScope site(self, wait);
  *reason = sched.park(deadline);
  if (write_waiter) {
    self->extra_waiters = nullptr;
    self->extra_waiter_count = 0;
    if (write_waiter[0].link.linked()) detail::list_unlink(write_waiter[0].link);
  }
  return 0;
}

bool hooks_active() {
  Scheduler* sched = Scheduler::get_if_exists();
  if (sched == nullptr) return false;
  const Coroutine* co = sched->current();
  return co->hooks_enabled && !co->is_thread_main;
}

bool set_hooks_enabled(bool enabled) {
  Coroutine* co = Scheduler::get().current();
  const bool previous = co->hooks_enabled;
  co->hooks_enabled = enabled;
  return previous;
}

void fd_closing(int fd) {
  if (Scheduler* sched = Scheduler::get_if_exists()) sched->poller().forget(fd);
}

void wake_fd_readers(int fd) {
  if (Scheduler* sched = Scheduler::get_if_exists()) sched->poller().wake_readers(fd);
}

int poll_fds(struct pollfd* fds, nfds_t nfds, int timeout_ms) {
  Scheduler& sched = Scheduler::get();
  if (!sched.in_coroutine() || timeout_ms == 0) return detail::sys::poll(fds, nfds, timeout_ms);
  const int ready = detail::sys::poll(fds, nfds, 0);
  if (ready != 0) return ready;
  const Deadline deadline =
      timeout_ms < 0 ? kNoDeadline : deadline_after(std::chrono::milliseconds(timeout_ms));
  // Waiters live on the heap: in shared-stack mode this coroutine's stack is copied away
  // while it is parked, and the queues must not point into it.
  std::unique_ptr<Waiter[]> waiters(new Waiter[2 * nfds]);
  for (;;) {
    for (nfds_t i = 0; i < nfds; ++i) {
      if (fds[i].fd < 0) continue;
      FdWaiters* w = sched.poller().waiters_for(fds[i].fd);
      if (w == nullptr) continue;  // cannot be watched: the polls before and after cover it
      if (fds[i].events & (POLLIN | POLLPRI | POLLRDHUP)) {
        waiters[2 * i].co = sched.current();
        detail::list_push_back(w->readers, waiters[2 * i].link);
      }
      if (fds[i].events & POLLOUT) {
        waiters[2 * i + 1].co = sched.current();
        detail::list_push_back(w->writers, waiters[2 * i + 1].link);
      }
    }
    Coroutine* self = sched.current();
    self->extra_waiters = waiters.get();
    self->extra_waiter_count = 2 * nfds;
    const detail::WaitSiteScope site(
        self, WaitSite{WaitKind::poll, static_cast<std::uint16_t>(nfds > 0 ? fds[0].events : 0),
                       nfds > 0 ? fds[0].fd : -1, static_cast<std::uint32_t>(nfds)});
    const WakeReason reason = sched.park(deadline);
    self->extra_waiters = nullptr;
    self->extra_waiter_count = 0;
    for (nfds_t i = 0; i < 2 * nfds; ++i) {
      if (waiters[i].link.linked()) detail::list_unlink(waiters[i].link);
    }
    if (const int err = interruption_errno(reason); err != 0) {
      errno = err;  // cancelled, or the coroutine's deadline passed (cancel.h)
      return -1;
    }
    const int n = detail::sys::poll(fds, nfds, 0);
    if (n != 0 || reason != WakeReason::notified) return n;
    // Woken by an edge that the exact poll does not report (or a close): wait again.
  }
}

}  // namespace co
