// accept, accept4 and connect: calls with no per-call non-blocking flag. A blocking
// listening socket is made non-blocking once, for good (the user's view stays blocking, see
// FdInfo::forced_nonblock); connect flips O_NONBLOCK only for its own duration, the way
// libmariadb does itself, and waits with the socket's send timeout.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include "co_routine.h"
#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/netpoll.h"
#include "fd_table.h"
#include "hook_support.h"
#include "read_note.h"
#include "real_calls.h"

namespace co::hooks {
namespace {

bool force_nonblock(int fd, FdInfo* info) {
  if (info->forced_nonblock.load(std::memory_order_relaxed)) return true;
  const int flags = REAL(fcntl)(fd, F_GETFL);
  if (flags < 0 || REAL(fcntl)(fd, F_SETFL, flags | O_NONBLOCK) != 0) return false;
  info->forced_nonblock.store(true, std::memory_order_relaxed);
  return true;
}

// accept_once is one accept4 on a listener the hooks made non-blocking. A blocking accept on
// a unix listener that was shut down fails with EINVAL (unix_accept: "receive shutdown"),
// but the non-blocking one says EAGAIN forever and no event would ever come to wake a
// parked coroutine (or end the poll loop outside one): report what the blocking call does.
int accept_once(int fd, sockaddr* addr, socklen_t* len, int flags) {
  const int nfd = REAL(accept4)(fd, addr, len, flags);
  if (nfd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    pollfd p{fd, POLLRDHUP, 0};
    if (REAL(poll)(&p, 1, 0) == 1 && (p.revents & POLLRDHUP)) {
      errno = EINVAL;
    } else {
      errno = EAGAIN;
    }
  }
  return nfd;
}

int accept_impl(int fd, sockaddr* addr, socklen_t* len, int flags) {
  const bool active = co::hooks_active();
  FdView v = active ? view_of(fd) : FdView{FdTable::instance().get(fd)};
  const bool forced = v.info != nullptr && v.info->forced_nonblock.load(std::memory_order_relaxed);
  if (!active) {
    if (!forced || v.info->user_nonblock.load(std::memory_order_relaxed) == 1) {
      return REAL(accept4)(fd, addr, len, flags);
    }
    // The hooks made this listener non-blocking; outside a coroutine, block the thread as
    // the user expects, SO_RCVTIMEO included.
    const KeepErrnoOnSuccess keep;
    const co::Deadline deadline = deadline_for(v, Direction::read);
    for (;;) {
      const int nfd = accept_once(fd, addr, len, flags);
      if (nfd >= 0) return keep(nfd);
      if (errno != EAGAIN && errno != EWOULDBLOCK) return nfd;
      if (block_until_ready(fd, Direction::read, deadline) != 0) return -1;
    }
  }
  if (v.info == nullptr || v.user_nonblock || v.kind != FdKind::socket ||
      !force_nonblock(fd, v.info)) {
    return REAL(accept4)(fd, addr, len, flags);
  }
  return retry_on_eagain(
      fd, Direction::read, v, [&] { return accept_once(fd, addr, len, flags); }, CallKind::other);
}

void note_accepted(int listener, int nfd, int flags) {
  if (nfd < 0) return;
  ErrnoGuard keep;
  co::fd_closing(nfd);
  // The accepted socket is of the listener's family, type and protocol, and inherits its
  // receive low-water mark and unix credential options: its short-read kind is the
  // listener's, learned once per listener.
  FdInfo* from = FdTable::instance().get(listener);
  const ShortRead short_read =
      from != nullptr ? short_read_of(listener, from) : ShortRead::may_leave_data;
  if (FdInfo* info = FdTable::instance().renew(nfd)) {
    // The kernel copies the listener's SO_RCVTIMEO/SO_SNDTIMEO to the accepted socket.
    learn_timeouts(nfd, info);
    info->kind.store(FdKind::socket, std::memory_order_relaxed);
    info->user_nonblock.store((flags & SOCK_NONBLOCK) ? 1 : 0, std::memory_order_relaxed);
    info->short_read.store(short_read, std::memory_order_relaxed);
  }
}

}  // namespace
}  // namespace co::hooks

using namespace co::hooks;

extern "C" {

COFCGI_API int accept(int fd, sockaddr* addr, socklen_t* len) {
  const int nfd = accept_impl(fd, addr, len, 0);
  note_accepted(fd, nfd, 0);
  return nfd;
}

COFCGI_API int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  const int nfd = accept_impl(fd, addr, len, flags);
  note_accepted(fd, nfd, flags);
  return nfd;
}

// libco's co_accept: accept on a socket the caller polled (co_poll) as readable. The seed's
// libco variant made the accepted socket O_NONBLOCK; so does its profile.
COFCGI_API int co_accept(int fd, sockaddr* addr, socklen_t* len) {
  return accept4(fd, addr, len, co::libco_profile().enabled ? SOCK_NONBLOCK : 0);
}

COFCGI_API int connect(int fd, const sockaddr* addr, socklen_t len) {
  if (!co::hooks_active()) return REAL(connect)(fd, addr, len);
  const FdView v = view_of(fd);
  if (v.info == nullptr || v.user_nonblock || v.kind != FdKind::socket ||
      v.info->forced_nonblock.load(std::memory_order_relaxed)) {
    return REAL(connect)(fd, addr, len);
  }
  const KeepErrnoOnSuccess keep;
  const int flags = REAL(fcntl)(fd, F_GETFL);
  if (flags < 0 || REAL(fcntl)(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    return REAL(connect)(fd, addr, len);
  int r = REAL(connect)(fd, addr, len);
  int err = errno;
  if (r != 0 && err == EINPROGRESS) {
    // Wait for the handshake with SO_SNDTIMEO, as the kernel's blocking connect does; on
    // timeout Linux reports EINPROGRESS and leaves the attempt running.
    if (park_until_ready(fd, Direction::write, deadline_for(v, Direction::write), v.generation) ==
        0) {
      int so_error = 0;
      socklen_t so_len = sizeof so_error;
      if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) == 0 && so_error == 0) {
        r = 0;
      } else {
        err = so_error != 0 ? so_error : errno;
      }
    } else {
      // In the libco-variant profile a timeout is LIBCO_POLL_TIMEOUT (co_routine.h).
      err = errno != EAGAIN ? errno : co::libco_profile().active ? LIBCO_POLL_TIMEOUT : EINPROGRESS;
    }
  }
  if (err != EBADF) (void)REAL(fcntl)(fd, F_SETFL, flags);
  if (r != 0) errno = err;
  return keep(r);
}

}  // extern "C"
