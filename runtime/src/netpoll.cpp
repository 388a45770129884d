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

namespace {

// What a one-fd poll may answer from the events of its wake-up: the bits epoll reports
// under the same values as poll (POLLRDNORM and the like it does not report).
constexpr short kAnswerableEvents = POLLIN | POLLOUT;

std::uint8_t not_ready_bits(std::uint32_t events) {
  std::uint8_t bits = 0;
  if (events & POLLIN) bits |= detail::kReadNotReady;
  if (events & POLLOUT) bits |= detail::kWriteNotReady;
  return bits;
}

// park_both_ways: the current coroutine's own waiter is among w's readers; it also waits
// among the writers (a heap waiter, as poll_fds does), else a writability edge alone would
// never wake it. Out of line: the common one-direction wait keeps a small frame.
[[gnu::noinline]] WakeReason park_both_ways(Scheduler& sched, FdWaiters* w, Deadline deadline) {
  Coroutine* self = sched.current();
  std::unique_ptr<Waiter[]> write_waiter(new Waiter[1]);
  write_waiter[0].co = self;
  detail::list_push_back(w->writers, write_waiter[0].link);
  self->extra_waiters = write_waiter.get();
  self->extra_waiter_count = 1;
  const WakeReason reason = sched.park(deadline);
  self->extra_waiters = nullptr;
  self->extra_waiter_count = 0;
  if (write_waiter[0].link.linked()) detail::list_unlink(write_waiter[0].link);
  return reason;
}

// park_on_fd parks the current coroutine in w's queues for `events` (POLLIN/POLLOUT) with
// its embedded waiter; `site` is what the status page shows meanwhile.
WakeReason park_on_fd(Scheduler& sched, FdWaiters* w, std::uint32_t events, Deadline deadline,
                      WaitSite site) {
  Coroutine* self = sched.current();
  self->ready_events = 0;
  const bool only_out = (events & POLLOUT) && !(events & POLLIN);
  detail::list_push_back(only_out ? w->writers : w->readers, self->waiter.link);
  const detail::WaitSiteScope scope(self, site);
  if ((events & POLLOUT) && !only_out) return park_both_ways(sched, w, deadline);
  return sched.park(deadline);
}

// park_reporting is wait_fd's park, out of line so that wait_fd jumps to it: a coroutine
// parked in wait_fd keeps this small frame in its saved stack, not wait_fd's lookups.
[[gnu::noinline]] int park_reporting(Scheduler& sched, FdWaiters* w, std::uint32_t events,
                                     Deadline deadline, WakeReason* reason, int fd) {
  *reason = park_on_fd(sched, w, events, deadline,
                       WaitSite{WaitKind::fd, static_cast<std::uint16_t>(events), fd, 1});
  return 0;
}

Deadline poll_deadline(int timeout_ms) {
  return timeout_ms < 0 ? kNoDeadline : deadline_after(std::chrono::milliseconds(timeout_ms));
}

// poll_one is poll_fds for one fd, with no heap waiter (the coroutine's own serves). Given
// the fd's generation, a not-ready note (note_fd_not_ready: the caller's recv just said
// EAGAIN) stands in for the first poll(), and the events of the wake-up for the second:
// recv, park, recv. Without it, or for events the wake-up cannot answer, both polls run.
[[gnu::noinline]] int poll_one(Scheduler& sched, pollfd& p, int timeout_ms,
                               std::uint64_t generation) {
  const bool answerable = generation != 0 && p.events != 0 && (p.events & ~kAnswerableEvents) == 0;
  if (!answerable || !sched.poller().known_not_ready(p.fd, not_ready_bits(p.events), generation)) {
    const int ready = detail::sys::poll(&p, 1, 0);
    if (ready != 0) return ready;
  }
  const Deadline deadline = poll_deadline(timeout_ms);
  const WaitSite site{WaitKind::poll, static_cast<std::uint16_t>(p.events), p.fd, 1};
  for (;;) {
    WakeReason reason;
    FdWaiters* w = sched.poller().waiters_for(p.fd, generation);
    if (w != nullptr) {
      reason = park_on_fd(sched, w,
                          static_cast<std::uint32_t>(p.events & (POLLIN | POLLOUT)) |
                              ((p.events & (POLLPRI | POLLRDHUP)) ? POLLIN : 0),
                          deadline, site);
    } else {
      // Cannot be watched: the polls before and after cover it.
      sched.current()->ready_events = 0;
      const detail::WaitSiteScope scope(sched.current(), site);
      reason = sched.park(deadline);
    }
    if (const int err = interruption_errno(reason); err != 0) {
      errno = err;  // cancelled, or the coroutine's deadline passed (cancel.h)
      return -1;
    }
    if (answerable && reason == WakeReason::notified) {
      const auto revents =
          static_cast<short>(sched.current()->ready_events & (p.events | POLLHUP | POLLERR));
      if (revents != 0) {
        p.revents = revents;
        return 1;
      }
    }
    const int n = detail::sys::poll(&p, 1, 0);
    if (n != 0 || reason != WakeReason::notified) return n;
    // Woken by an edge that the exact poll does not report: wait again.
  }
}

// poll_many is poll_fds for several fds (or none).
int poll_many(Scheduler& sched, struct pollfd* fds, nfds_t nfds, int timeout_ms) {
  const int ready = detail::sys::poll(fds, nfds, 0);
  if (ready != 0) return ready;
  const Deadline deadline = poll_deadline(timeout_ms);
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

}  // namespace

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
  return park_reporting(sched, w, events, deadline, reason, fd);  // a sibling call
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

void note_fd_not_ready(int fd, std::uint32_t events, std::uint64_t fd_generation) {
  if (Scheduler* sched = Scheduler::get_if_exists())
    sched->poller().note_not_ready(fd, not_ready_bits(events), fd_generation);
}

bool fd_known_not_ready(int fd, std::uint32_t events, std::uint64_t fd_generation) {
  Scheduler* sched = Scheduler::get_if_exists();
  const std::uint8_t bits = not_ready_bits(events);
  return sched != nullptr && bits != 0 && sched->poller().known_not_ready(fd, bits, fd_generation);
}

int poll_fds(struct pollfd* fds, nfds_t nfds, int timeout_ms, std::uint64_t fd_generation) {
  Scheduler& sched = Scheduler::get();
  if (!sched.in_coroutine() || timeout_ms == 0) return detail::sys::poll(fds, nfds, timeout_ms);
  if (nfds == 1 && fds[0].fd >= 0) return poll_one(sched, fds[0], timeout_ms, fd_generation);
  return poll_many(sched, fds, nfds, timeout_ms);
}

}  // namespace co
