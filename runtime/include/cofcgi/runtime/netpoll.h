// The netpoller as the layers above the runtime (hooks, adapters) see it: park the calling
// coroutine until an fd is ready, a deadline passes, or the fd is closed.
#pragma once

#include <poll.h>

#include <cstdint>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co {

// wait_fd parks the calling coroutine until `fd` has one of `events` (POLLIN/POLLOUT),
// the deadline passes, or fd_closing(fd) is called. The fd is registered with this thread's
// epoll once (edge-triggered, both directions); several coroutines may wait on one fd.
// An fd epoll cannot watch (a regular file) counts as always ready. Returns -1 with errno
// (ENOMEM/ENOSPC from epoll_ctl, EPERM outside a coroutine) when it cannot wait at all.
// Call it only after the operation itself returned EAGAIN: readiness is edge-triggered.
COFCGI_API int wait_fd(int fd, std::uint32_t events, Deadline deadline, WakeReason* reason);

// fd_closing wakes every coroutine of this thread waiting on fd with WakeReason::closed and
// drops its epoll registration. Call it before the real close()/dup2() (epoll keeps a
// registration alive while any duplicate of the file lives).
COFCGI_API void fd_closing(int fd);

// poll_fds is poll(2) that parks only the calling coroutine: a non-blocking poll first, then
// parks on every fd plus the timeout, then polls again for exact revents. Outside a
// coroutine it is the real poll. timeout_ms < 0 waits forever; 0 never parks.
COFCGI_API int poll_fds(struct pollfd* fds, nfds_t nfds, int timeout_ms);

}  // namespace co
