// poll, ppoll, select, pselect and epoll_wait park the coroutine instead of the thread:
// a zero-timeout call first, then park on every fd (and the timeout), then the real call
// again for exact results. Fds the runtime never saw (pipes from elsewhere, eventfds) work:
// they are registered with the netpoller on first wait.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include <chrono>
#include <vector>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/sleep.h"
#include "hook_support.h"
#include "read_note.h"
#include "real_calls.h"
#include "sys_write.h"

namespace co::hooks {
namespace {

int timespec_to_ms(const timespec* ts) {
  if (ts == nullptr) return -1;
  const long long ms = static_cast<long long>(ts->tv_sec) * 1000 + (ts->tv_nsec + 999999) / 1000000;
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

int timeval_to_ms(const timeval* tv) {
  if (tv == nullptr) return -1;
  const long long ms = static_cast<long long>(tv->tv_sec) * 1000 + (tv->tv_usec + 999) / 1000;
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

// one_fd_generation: for a poll of one fd, that fd's life (co::poll_fds skips its polls when
// the netpoller can vouch for that life); 0 otherwise.
std::uint64_t one_fd_generation(const pollfd* fds, nfds_t nfds) {
  return nfds == 1 ? fd_generation(fds[0].fd) : 0;
}

// select over poll_fds: the fd_sets become pollfds and back.
int select_via_poll(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                    int timeout_ms) {
  if (nfds < 0 || nfds > FD_SETSIZE) {
    errno = EINVAL;
    return -1;
  }
  std::vector<pollfd> fds;
  for (int fd = 0; fd < nfds; ++fd) {
    short events = 0;
    if (readfds != nullptr && FD_ISSET(fd, readfds)) events |= POLLIN;
    if (writefds != nullptr && FD_ISSET(fd, writefds)) events |= POLLOUT;
    if (exceptfds != nullptr && FD_ISSET(fd, exceptfds)) events |= POLLPRI;
    if (events != 0) fds.push_back(pollfd{fd, events, 0});
  }
  stamp_read_polls(fds.data(), fds.size(), false);  // gives no fd's generation: no note used
  const int n = co::poll_fds(fds.data(), fds.size(), timeout_ms);
  if (n < 0) return n;
  int count = 0;
  for (const pollfd& p : fds) {
    if (p.revents & POLLNVAL) {
      errno = EBADF;
      return -1;
    }
  }
  if (readfds != nullptr) FD_ZERO(readfds);
  if (writefds != nullptr) FD_ZERO(writefds);
  if (exceptfds != nullptr) FD_ZERO(exceptfds);
  for (const pollfd& p : fds) {
    // As the kernel's select: hang-up and error count as readable/writable.
    if (readfds != nullptr && (p.events & POLLIN) && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      FD_SET(p.fd, readfds);
      ++count;
    }
    if (writefds != nullptr && (p.events & POLLOUT) && (p.revents & (POLLOUT | POLLERR))) {
      FD_SET(p.fd, writefds);
      ++count;
    }
    if (exceptfds != nullptr && (p.events & POLLPRI) && (p.revents & POLLPRI)) {
      FD_SET(p.fd, exceptfds);
      ++count;
    }
  }
  return count;
}

int epoll_wait_hook(int epfd, epoll_event* events, int max, int timeout_ms, const sigset_t* mask) {
  new_read_poll_epoch();  // it may report any fd ready: no EAGAIN is lent past it
  if (!co::hooks_active() || timeout_ms == 0)
    return REAL(epoll_pwait)(epfd, events, max, timeout_ms, mask);
  // An epoll fd is itself pollable: readable while it has events to report. Park on it.
  const co::Deadline deadline =
      timeout_ms < 0 ? co::kNoDeadline : co::deadline_after(std::chrono::milliseconds(timeout_ms));
  const FdView v = view_of(epfd);
  const KeepErrnoOnSuccess keep;
  for (;;) {
    const int n = REAL(epoll_pwait)(epfd, events, max, 0, mask);
    if (n != 0) return keep(n);
    if (co::now_ns() >= deadline) return keep(0);
    if (park_until_ready(epfd, Direction::read, deadline, v.generation) != 0) {
      if (errno == EAGAIN) return keep(0);  // timed out
      return -1;
    }
  }
}

}  // namespace
}  // namespace co::hooks

using namespace co::hooks;

extern "C" {

COFCGI_API int poll(pollfd* fds, nfds_t nfds, int timeout) {
  if (!co::hooks_active()) return REAL(poll)(fds, nfds, timeout);
  const KeepErrnoOnSuccess keep;
  const std::uint64_t generation = one_fd_generation(fds, nfds);
  stamp_read_polls(fds, nfds, generation != 0 && timeout != 0);
  return keep(co::poll_fds(fds, nfds, timeout, generation));
}

COFCGI_API int __poll_chk(pollfd* fds, nfds_t nfds, int timeout, size_t fdslen) {
  if (fdslen / sizeof(*fds) < nfds) {
    static const char msg[] = "*** buffer overflow detected ***: terminated\n";
    raw_write_stderr_literal(msg, sizeof msg - 1);
    abort();
  }
  return poll(fds, nfds, timeout);
}

// The signal mask of ppoll/pselect/epoll_pwait is honoured outside coroutines; a coroutine
// shares its thread's mask, so inside one it is not applied while parked.
COFCGI_API int ppoll(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* mask) {
  if (!co::hooks_active()) return REAL(ppoll)(fds, nfds, timeout, mask);
  const KeepErrnoOnSuccess keep;
  const int timeout_ms = timespec_to_ms(timeout);
  const std::uint64_t generation = one_fd_generation(fds, nfds);
  stamp_read_polls(fds, nfds, generation != 0 && timeout_ms != 0);
  return keep(co::poll_fds(fds, nfds, timeout_ms, generation));
}

COFCGI_API int __ppoll_chk(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* mask,
                           size_t fdslen) {
  if (fdslen / sizeof(*fds) < nfds) {
    static const char msg[] = "*** buffer overflow detected ***: terminated\n";
    raw_write_stderr_literal(msg, sizeof msg - 1);
    abort();
  }
  return ppoll(fds, nfds, timeout, mask);
}

COFCGI_API int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                      timeval* timeout) {
  if (!co::hooks_active()) return REAL(select)(nfds, readfds, writefds, exceptfds, timeout);
  const KeepErrnoOnSuccess keep;
  const int r = select_via_poll(nfds, readfds, writefds, exceptfds, timeval_to_ms(timeout));
  // Linux's select reports the time left; after parking the whole timeout or a ready fd,
  // zero is what a caller looping on it needs least to be wrong about when it timed out.
  if (r == 0 && timeout != nullptr) *timeout = timeval{0, 0};
  return keep(r);
}

COFCGI_API int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                       const timespec* timeout, const sigset_t* mask) {
  if (!co::hooks_active()) return REAL(pselect)(nfds, readfds, writefds, exceptfds, timeout, mask);
  const KeepErrnoOnSuccess keep;
  return keep(select_via_poll(nfds, readfds, writefds, exceptfds, timespec_to_ms(timeout)));
}

COFCGI_API int epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
  return epoll_wait_hook(epfd, events, max, timeout, nullptr);
}

COFCGI_API int epoll_pwait(int epfd, epoll_event* events, int max, int timeout,
                           const sigset_t* mask) {
  return epoll_wait_hook(epfd, events, max, timeout, mask);
}

}  // extern "C"
