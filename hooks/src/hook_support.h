// The one shape every hook follows (Photon's doio_once): pass through, or try the call
// without blocking and, on EAGAIN, park the coroutine on the fd (with the fd's timeout),
// then retry. EINTR retries; any other result returns as libc returned it. errno is set
// last, after the coroutine resumed.
#pragma once

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/uio.h>

#include <cstdint>

#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/wait_queue.h"
#include "fd_table.h"
#include "real_calls.h"

namespace co::hooks {

enum class Direction { read, write };

// What one hooked call needs to know about its fd. Sixteen bytes, so that view_of returns it
// in registers: a hook that parks keeps no copy of it in its frame (saved stack per parked
// coroutine, issue 15).
struct FdView {
  FdInfo* info = nullptr;  // nullptr: fd out of range, pass through
  std::uint64_t generation : kFdGenerationBits = 0;
  FdKind kind : 8 = FdKind::unknown;
  bool user_nonblock : 1 = false;
};
static_assert(sizeof(FdView) == 16);

// view_of looks fd up, learning its kind (fstat) and O_NONBLOCK (F_GETFL) on first use.
FdView view_of(int fd);

// What a blocking call is, for the libco-variant profile (co::libco_profile): only data
// calls (the read and write families) on a socket with no SO_RCVTIMEO/SO_SNDTIMEO get its
// default timeouts; accept and connect keep the socket's own.
enum class CallKind { data, other };

// The deadline of a blocking call on fd: now + SO_RCVTIMEO/SO_SNDTIMEO, or none (for a data
// call in a coroutine the libco-variant profile applies to: its default timeout).
co::Deadline deadline_for(const FdView& v, Direction dir, CallKind kind = CallKind::other);

// LazyDeadline: deadline_for, worked out at the first wait instead of before the first try.
// Most hooked calls never wait, and the deadline costs a clock read (with no socket timeout,
// a look at the libco-variant profile): the fast path pays neither.
class LazyDeadline {
 public:
  LazyDeadline(const FdView& v, Direction dir, CallKind kind) : v_(v), dir_(dir), kind_(kind) {}
  co::Deadline get() {
    if (!known_) {
      deadline_ = deadline_for(v_, dir_, kind_);
      known_ = true;
    }
    return deadline_;
  }

 private:
  const FdView& v_;
  Direction dir_;
  CallKind kind_;
  bool known_ = false;
  co::Deadline deadline_ = co::kNoDeadline;
};

// report_timeout turns the EAGAIN of a call that timed out into LIBCO_POLL_TIMEOUT when the
// libco-variant profile applies to the caller (co_routine.h); any other errno stays. Call it
// only where EAGAIN means "the deadline passed".
void report_timeout();

// park_until_ready parks the coroutine until fd may be ready in `dir`. Returns 0, or -1 with
// errno EAGAIN (deadline passed, as libc reports SO_RCVTIMEO), EBADF (fd closed meanwhile),
// ECANCELED (the coroutine was cancelled) or ETIMEDOUT (its DeadlineScope passed): the last
// two at once, without parking, once they hold (cofcgi/runtime/cancel.h).
// Inline: its own frame would be kept, with the hook's, in every parked coroutine's stack.
inline int park_until_ready(int fd, Direction dir, co::Deadline deadline, std::uint64_t generation);

// block_until_ready is the same outside a coroutine, with a real poll(); for fds the hooks
// made non-blocking behind the user's back.
int block_until_ready(int fd, Direction dir, co::Deadline deadline);

inline short poll_events(Direction dir) { return dir == Direction::read ? POLLIN : POLLOUT; }

// wake_errno: the errno a wait that ended for `reason` reports (0: ready).
int wake_errno(co::WakeReason reason);

__attribute__((always_inline)) inline int park_until_ready(int fd, Direction dir,
                                                           co::Deadline deadline,
                                                           std::uint64_t generation) {
  co::WakeReason reason = co::WakeReason::notified;
  if (co::wait_fd(fd, static_cast<std::uint32_t>(poll_events(dir)), deadline, &reason,
                  generation) != 0) {
    return -1;  // errno from the netpoller (ENOMEM, ENOSPC)
  }
  if (reason == co::WakeReason::notified) [[likely]]
    return 0;
  errno = wake_errno(reason);
  return -1;
}

// note_not_ready tells this thread's netpoller that a call on fd just failed with EAGAIN
// in `dir` (co::note_fd_not_ready, for the fd's current generation): a one-fd poll that
// follows (libmariadb's recv, then poll) parks at once instead of asking the kernel again.
// Errno is kept.
void note_not_ready(int fd, Direction dir);

// passing_eagain returns `result`, a call's made without parking, noting an EAGAIN first.
template <typename T>
T passing_eagain(T result, int fd, Direction dir) {
  if (result < 0 && errno == EAGAIN) [[unlikely]]
    note_not_ready(fd, dir);
  return result;
}

// fd_generation: the life of fd as the hooks count it (0: unknown or out of range).
std::uint64_t fd_generation(int fd);

// KeepErrnoOnSuccess: libc leaves errno alone when a call succeeds. A hook that parked let
// the thread's other coroutines run (errno belongs to the thread, not the coroutine) and its
// own non-blocking attempts set EAGAIN, so on success it puts the caller's errno back:
// `return keep(result);` restores errno when result >= 0 and passes result through.
class KeepErrnoOnSuccess {
 public:
  KeepErrnoOnSuccess() : saved_(errno) {}
  template <typename T>
  T operator()(T result) const {
    if (result >= 0) errno = saved_;
    return result;
  }

 private:
  int saved_;
};

// learn_timeouts copies a socket's SO_RCVTIMEO/SO_SNDTIMEO from the kernel into its entry:
// for sockets the hooks did not see configured (accepted ones inherit the listener's, fds
// inherited from another program).
void learn_timeouts(int fd, FdInfo* info);

// retry_on_eagain runs attempt() (one non-blocking try returning -1/errno or a result) until
// it succeeds, fails otherwise, or the deadline passes. With `park_first` (the fd is noted not
// ready in `dir`: a try would say EAGAIN) it parks before the first try; when that park ends
// in a cancellation or the coroutine's deadline, one try still takes what came meanwhile (as
// without the note: what needs no wait still happens).
template <typename Attempt>
auto retry_on_eagain(int fd, Direction dir, const FdView& v, Attempt attempt,
                     CallKind kind = CallKind::data, bool park_first = false)
    -> decltype(attempt()) {
  const KeepErrnoOnSuccess keep;
  LazyDeadline deadline(v, dir, kind);
  if (park_first && park_until_ready(fd, dir, deadline.get(), v.generation) != 0) {
    const int err = errno;
    if (err == ECANCELED || err == ETIMEDOUT) {
      const auto result = attempt();
      if (result >= 0) return keep(result);
    }
    errno = err;
    report_timeout();
    return -1;
  }
  for (;;) {
    const auto result = attempt();
    if (result >= 0) return keep(result);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return result;
    if (park_until_ready(fd, dir, deadline.get(), v.generation) != 0) {
      report_timeout();
      return -1;
    }
  }
}

// ready_then_call is the shape for fds with no per-call non-blocking flag (pipes, ttys,
// eventfds): a zero-timeout poll, parking until ready, then the real (blocking) call. A
// regular file is always ready. If another process drains the fd between the poll and the
// call, the call blocks the thread as libc would.
template <typename Call>
auto ready_then_call(int fd, Direction dir, const FdView& v, Call call) -> decltype(call()) {
  const KeepErrnoOnSuccess keep;
  for (;;) {
    pollfd p{fd, poll_events(dir), 0};
    if (REAL(poll)(&p, 1, 0) != 0) return keep(call());
    if (park_until_ready(fd, dir, co::kNoDeadline, v.generation) != 0) return -1;
  }
}

// iov_bytes: the bytes an iovec array holds (saturating at SIZE_MAX: it is only compared
// with a call's result).
inline std::size_t iov_bytes(const iovec* iov, std::size_t count) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < count && iov != nullptr; ++i) {
    total += iov[i].iov_len;
    if (total < iov[i].iov_len) return SIZE_MAX;
  }
  return total;
}

// ErrnoGuard restores errno on scope exit: for hooks whose bookkeeping may clobber it.
class ErrnoGuard {
 public:
  ErrnoGuard() : saved_(errno) {}
  ~ErrnoGuard() { errno = saved_; }
  void keep_current() { saved_ = errno; }

 private:
  int saved_;
};

}  // namespace co::hooks
