// Hooks that create, duplicate, close and configure fds: they keep the fd table (kind,
// the user's O_NONBLOCK, timeouts, generation) in step with the kernel, and wake the
// coroutines parked on an fd before it is closed.
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/netpoll.h"
#include "fd_table.h"
#include "hook_support.h"
#include "read_note.h"
#include "real_calls.h"

namespace co::hooks {
namespace {

// A vfork child (and a posix_spawn child) shares its parent's memory, and so the parent's
// scheduler and netpoller: its close/dup2 must not touch them. g_pid is this process's pid as
// the hooks know it: set at load, and again in every fork() child by an atfork handler,
// which vfork and posix_spawn never run; so in such a child getpid() differs from it.
// Nothing is cached by the child itself (it would be written into the parent's memory).
std::atomic<pid_t> g_pid{0};
void note_pid() { g_pid.store(::getpid(), std::memory_order_relaxed); }
__attribute__((constructor)) void install_fork_handler() {
  note_pid();
  (void)pthread_atfork(nullptr, nullptr, &note_pid);
}
bool in_vfork_child() {
  const pid_t known = g_pid.load(std::memory_order_relaxed);
  return known != 0 && ::getpid() != known;
}

void note_created(int fd, FdKind kind, bool nonblock,
                  ShortRead short_read = ShortRead::may_leave_data) {
  if (fd < 0 || in_vfork_child()) return;
  // A new life for this number: drop any registration an earlier life left in this thread's
  // netpoller (a file closed behind the hooks' back).
  co::fd_closing(fd);
  if (FdInfo* info = FdTable::instance().renew(fd)) {
    info->kind.store(kind, std::memory_order_relaxed);
    info->user_nonblock.store(nonblock ? 1 : 0, std::memory_order_relaxed);
    info->short_read.store(short_read, std::memory_order_relaxed);
  }
}

// Before an fd stops naming its file: wake its waiters (they get EBADF) and drop the epoll
// registration, since epoll keeps it while any duplicate lives.
void retire(int fd) {
  if (fd < 0 || in_vfork_child()) return;
  co::fd_closing(fd);
  FdTable::instance().renew(fd);
}

long variadic_arg(va_list ap) { return va_arg(ap, long); }

int fcntl_impl(decltype(&::fcntl) real_fcntl, int fd, int cmd, long arg) {
  switch (cmd) {
    case F_GETFL: {
      const int flags = real_fcntl(fd, cmd);
      if (flags < 0) return flags;
      FdInfo* info = FdTable::instance().get(fd);
      if (info != nullptr && info->forced_nonblock.load(std::memory_order_relaxed)) {
        // Report the user's view, not the O_NONBLOCK the hooks added.
        return info->user_nonblock.load(std::memory_order_relaxed) == 1 ? flags
                                                                        : (flags & ~O_NONBLOCK);
      }
      return flags;
    }
    case F_SETFL: {
      FdInfo* info = FdTable::instance().get(fd);
      const bool forced = info != nullptr && info->forced_nonblock.load(std::memory_order_relaxed);
      const int r = real_fcntl(fd, cmd, forced ? (arg | O_NONBLOCK) : arg);
      if (r == 0 && info != nullptr) {
        info->user_nonblock.store((arg & O_NONBLOCK) ? 1 : 0, std::memory_order_relaxed);
      }
      return r;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      const int nfd = real_fcntl(fd, cmd, arg);
      if (nfd >= 0 && !in_vfork_child()) {
        ErrnoGuard keep;
        co::fd_closing(nfd);
        FdTable::instance().copy_life(fd, nfd);
      }
      return nfd;
    }
    default:
      // Every other command goes to the kernel untouched (libco answered unknown ones with -1).
      return real_fcntl(fd, cmd, arg);
  }
}

}  // namespace
}  // namespace co::hooks

using namespace co::hooks;

extern "C" {

COFCGI_API int socket(int domain, int type, int protocol) {
  const int fd = REAL(socket)(domain, type, protocol);
  if (fd >= 0) {
    ErrnoGuard keep;
    note_created(fd, FdKind::socket, (type & SOCK_NONBLOCK) != 0,
                 classify_socket(domain, type, protocol));
  }
  return fd;
}

COFCGI_API int socketpair(int domain, int type, int protocol, int sv[2]) {
  const int r = REAL(socketpair)(domain, type, protocol, sv);
  if (r == 0) {
    ErrnoGuard keep;
    const ShortRead short_read = classify_socket(domain, type, protocol);
    note_created(sv[0], FdKind::socket, (type & SOCK_NONBLOCK) != 0, short_read);
    note_created(sv[1], FdKind::socket, (type & SOCK_NONBLOCK) != 0, short_read);
  }
  return r;
}

COFCGI_API int pipe(int fds[2]) {
  const int r = REAL(pipe)(fds);
  if (r == 0) {
    ErrnoGuard keep;
    note_created(fds[0], FdKind::other, false);
    note_created(fds[1], FdKind::other, false);
  }
  return r;
}

COFCGI_API int pipe2(int fds[2], int flags) {
  const int r = REAL(pipe2)(fds, flags);
  if (r == 0) {
    ErrnoGuard keep;
    note_created(fds[0], FdKind::other, (flags & O_NONBLOCK) != 0);
    note_created(fds[1], FdKind::other, (flags & O_NONBLOCK) != 0);
  }
  return r;
}

COFCGI_API int close(int fd) {
  {
    ErrnoGuard keep;
    retire(fd);
  }
  return REAL(close)(fd);
}

COFCGI_API int shutdown(int fd, int how) { return REAL(shutdown)(fd, how); }

COFCGI_API int dup(int fd) {
  const int nfd = REAL(dup)(fd);
  if (nfd >= 0 && !in_vfork_child()) {
    ErrnoGuard keep;
    co::fd_closing(nfd);
    FdTable::instance().copy_life(fd, nfd);
  }
  return nfd;
}

COFCGI_API int dup2(int fd, int fd2) {
  if (fd != fd2) {
    ErrnoGuard keep;
    retire(fd2);
  }
  const int r = REAL(dup2)(fd, fd2);
  if (r >= 0 && fd != fd2 && !in_vfork_child()) {
    ErrnoGuard keep;
    FdTable::instance().copy_life(fd, fd2);
  }
  return r;
}

COFCGI_API int dup3(int fd, int fd2, int flags) {
  if (fd != fd2) {
    ErrnoGuard keep;
    retire(fd2);
  }
  const int r = REAL(dup3)(fd, fd2, flags);
  if (r >= 0 && !in_vfork_child()) {
    ErrnoGuard keep;
    FdTable::instance().copy_life(fd, fd2);
  }
  return r;
}

COFCGI_API int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = variadic_arg(ap);
  va_end(ap);
  return fcntl_impl(REAL(fcntl), fd, cmd, arg);
}

COFCGI_API int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = variadic_arg(ap);
  va_end(ap);
  return fcntl_impl(REAL(fcntl64), fd, cmd, arg);
}

COFCGI_API int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (request == FIONBIO && arg != nullptr) {
    FdInfo* info = FdTable::instance().get(fd);
    const bool on = *static_cast<int*>(arg) != 0;
    if (info != nullptr && info->forced_nonblock.load(std::memory_order_relaxed)) {
      info->user_nonblock.store(on ? 1 : 0, std::memory_order_relaxed);
      return 0;  // the file stays non-blocking for the hooks
    }
    const int r = REAL(ioctl)(fd, request, arg);
    if (r == 0 && info != nullptr) info->user_nonblock.store(on ? 1 : 0, std::memory_order_relaxed);
    return r;
  }
  return REAL(ioctl)(fd, request, arg);
}

COFCGI_API int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  const int r = REAL(setsockopt)(fd, level, name, value, len);
  if (r == 0) short_read_after_setsockopt(FdTable::instance().get(fd), level, name, value, len);
  if (r == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
      value != nullptr && len >= sizeof(timeval)) {
    if (FdInfo* info = FdTable::instance().get(fd)) {
      const auto* tv = static_cast<const timeval*>(value);
      const std::int64_t ns =
          static_cast<std::int64_t>(tv->tv_sec) * 1000000000 + tv->tv_usec * 1000;
      (name == SO_RCVTIMEO ? info->recv_timeout_ns : info->send_timeout_ns)
          .store(ns, std::memory_order_relaxed);
    }
  }
  return r;
}

COFCGI_API int getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
  return REAL(getsockopt)(fd, level, name, value, len);
}

}  // extern "C"
