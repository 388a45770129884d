#include "hook_support.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <chrono>

#include "co_routine.h"
#include "real_calls.h"

namespace co::hooks {

FdView view_of(int fd) {
  FdView v;
  v.info = FdTable::instance().get(fd);
  if (v.info == nullptr) return v;
  FdKind kind = v.info->kind.load(std::memory_order_relaxed);
  if (kind == FdKind::unknown) {
    // An fd the hooks never saw created (opened before hooks were on, or by a library outside
    // a coroutine): learn it now, once.
    struct stat st;
    if (fstat(fd, &st) != 0) {
      v.info = nullptr;  // EBADF and friends: let the real call report it
      return v;
    }
    kind = S_ISSOCK(st.st_mode) ? FdKind::socket : FdKind::other;
    if (kind == FdKind::socket) learn_timeouts(fd, v.info);
    v.info->kind.store(kind, std::memory_order_relaxed);
  }
  std::int8_t nonblock = v.info->user_nonblock.load(std::memory_order_relaxed);
  if (nonblock < 0) {
    const int flags = REAL(fcntl)(fd, F_GETFL);
    if (flags < 0) {
      v.info = nullptr;
      return v;
    }
    nonblock = (flags & O_NONBLOCK) ? 1 : 0;
    v.info->user_nonblock.store(nonblock, std::memory_order_relaxed);
  }
  v.kind = kind;
  v.user_nonblock = nonblock == 1;
  v.generation = v.info->generation.load(std::memory_order_acquire);
  return v;
}

void learn_timeouts(int fd, FdInfo* info) {
  const int saved = errno;
  for (const int opt : {SO_RCVTIMEO, SO_SNDTIMEO}) {
    timeval tv{};
    socklen_t len = sizeof tv;
    if (REAL(getsockopt)(fd, SOL_SOCKET, opt, &tv, &len) != 0) continue;
    const std::int64_t ns = static_cast<std::int64_t>(tv.tv_sec) * 1000000000 +
                            static_cast<std::int64_t>(tv.tv_usec) * 1000;
    (opt == SO_RCVTIMEO ? info->recv_timeout_ns : info->send_timeout_ns)
        .store(ns, std::memory_order_relaxed);
  }
  errno = saved;
}

co::Deadline deadline_for(const FdView& v, Direction dir, CallKind kind) {
  if (v.info == nullptr) return co::kNoDeadline;
  std::int64_t timeout = dir == Direction::read
                             ? v.info->recv_timeout_ns.load(std::memory_order_relaxed)
                             : v.info->send_timeout_ns.load(std::memory_order_relaxed);
  if (timeout <= 0 && kind == CallKind::data && v.kind == FdKind::socket) {
    // libco gave every socket a timeout (1 s unless set); its variant's programs count on it.
    const co::LibcoProfile profile = co::libco_profile();
    if (profile.active) {
      timeout = static_cast<std::int64_t>(dir == Direction::read ? profile.read_timeout_ms
                                                                 : profile.write_timeout_ms) *
                1000000;
    }
  }
  return timeout > 0 ? co::deadline_after(std::chrono::nanoseconds(timeout)) : co::kNoDeadline;
}

std::uint64_t fd_generation(int fd) {
  const FdInfo* info = FdTable::instance().get(fd);
  return info != nullptr ? info->generation.load(std::memory_order_acquire) : 0;
}

void note_not_ready(int fd, Direction dir) {
  const int saved = errno;
  // Generation 0 is a life the hooks did not see begin: no note, it could outlive the file.
  if (const std::uint64_t generation = fd_generation(fd); generation != 0)
    co::note_fd_not_ready(fd, static_cast<std::uint32_t>(poll_events(dir)), generation);
  errno = saved;
}

void report_timeout() {
  if (errno != EAGAIN) return;
  if (co::libco_profile().active) errno = LIBCO_POLL_TIMEOUT;
}

int wake_errno(co::WakeReason reason) {
  switch (reason) {
    case co::WakeReason::notified: return 0;
    case co::WakeReason::timeout: return EAGAIN;  // as libc reports SO_RCVTIMEO
    case co::WakeReason::closed: return EBADF;
    // The coroutine was cancelled or its DeadlineScope passed (cofcgi/runtime/cancel.h).
    case co::WakeReason::cancelled: return ECANCELED;
    case co::WakeReason::deadline_exceeded: return ETIMEDOUT;
  }
  return 0;
}

int block_until_ready(int fd, Direction dir, co::Deadline deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline != co::kNoDeadline) {
      const co::Deadline left = deadline - co::now_ns();
      if (left <= 0) {
        errno = EAGAIN;
        return -1;
      }
      timeout_ms = static_cast<int>((left + 999999) / 1000000);
    }
    pollfd p{fd, poll_events(dir), 0};
    const int n = REAL(poll)(&p, 1, timeout_ms);
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR) return -1;
  }
}

}  // namespace co::hooks
