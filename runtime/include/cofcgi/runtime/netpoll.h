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
// In a cancelled coroutine or past its DeadlineScope it returns 0 at once with *reason
// cancelled/deadline_exceeded, and a parked wait is woken with them (cancel.h).
// fd_generation (0: unknown) identifies this life of the fd number; when it differs from the
// one the registration was made for, the fd is registered again (the old file may have been
// closed behind this thread's back, which silently drops it from epoll).
COFCGI_API int wait_fd(int fd, std::uint32_t events, Deadline deadline, WakeReason* reason,
                       std::uint64_t fd_generation = 0);

// hooks_active tells whether the caller runs in a coroutine whose syscall hooks are on
// (co_enable_hook_sys; on by default for co::go). False on threads with no scheduler.
COFCGI_API bool hooks_active();
// set_hooks_enabled turns the current coroutine's hooks on or off (libco's
// co_enable_hook_sys / co_disable_hook_sys); returns the previous setting.
COFCGI_API bool set_hooks_enabled(bool enabled);

// LibcoProfile is the seed libco variant's profile (co_set_libco_timeouts in co_routine.h) as
// it applies to the caller: `enabled` process-wide, `active` when also the caller is a
// coroutine made by co_create whose hooks are on; the default socket timeouts in ms (0: none).
struct LibcoProfile {
  bool enabled = false;
  bool active = false;
  int read_timeout_ms = 0;
  int write_timeout_ms = 0;
};
// libco_profile reads it (the environment variable COFCGI_LIBCO_TIMEOUTS on the first call).
COFCGI_API LibcoProfile libco_profile();

// fd_closing wakes every coroutine of this thread waiting on fd with WakeReason::closed and
// drops its epoll registration. Call it before the real close()/dup2() (epoll keeps a
// registration alive while any duplicate of the file lives).
COFCGI_API void fd_closing(int fd);

// wake_fd_readers wakes this thread's coroutines waiting in wait_fd for fd to become
// readable, with WakeReason::notified, as an edge would; the fd stays registered. It is how
// the owner of a reading coroutine asks it to look at its state again (stop, close) without
// pretending the fd is closing.
COFCGI_API void wake_fd_readers(int fd);

// poll_fds is poll(2) that parks only the calling coroutine: a non-blocking poll first, then
// parks on every fd plus the timeout, then polls again for exact revents. Outside a
// coroutine it is the real poll. timeout_ms < 0 waits forever; 0 never parks. Where it would
// park in a cancelled coroutine or past its DeadlineScope: -1 with ECANCELED/ETIMEDOUT.
// For one fd (libmariadb's case) it parks with no allocation, and `fd_generation`, the
// fd's life as the hooks count it (0: unknown), lets it skip both polls: the first when
// the fd is noted not ready (note_fd_not_ready), the second when the wake-up's events
// answer POLLIN/POLLOUT (revents then are those events, as a threaded poll would see them;
// another coroutine may still drain the fd before this one reads).
COFCGI_API int poll_fds(struct pollfd* fds, nfds_t nfds, int timeout_ms,
                        std::uint64_t fd_generation = 0);

// note_fd_not_ready records that an operation on fd just found nothing to do in the directions of
// `events` (POLLIN, POLLOUT): it failed with EAGAIN, or a read of a stream socket returned less
// than asked (which leaves it empty of data). Until this thread's netpoller reports an edge on fd,
// fd_known_not_ready says so: the caller may park (wait_fd) without trying the kernel first. The
// note is kept only for an fd registered with this thread's netpoller: given its fd_generation
// (non-zero), the note registers an fd not waited on yet (one epoll_ctl per fd life); with 0 (the
// caller owns the fd and vouches for its life) only an fd this thread already waited on keeps it.
// The registration is edge-triggered, so anything that arrives after the note queues an edge, which
// clears it. fd_closing clears it too. A short read leaves data empty, not the peer's end or an
// error, which may have arrived before it and queue no edge after: once epoll reported a hang-up or
// an error in a direction (or urgent data, which stops a read at its mark), no note is kept there
// for this registration. Errno is left alone. It does not say the fd is empty now: an edge may be
// queued and not reported yet (the loop reports edges between batches of coroutines); it says that
// parking is safe, since that edge will wake the waiter. Use it only to decide to park.
COFCGI_API void note_fd_not_ready(int fd, std::uint32_t events, std::uint64_t fd_generation = 0);
COFCGI_API bool fd_known_not_ready(int fd, std::uint32_t events, std::uint64_t fd_generation = 0);

}  // namespace co
