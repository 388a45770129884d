// Raw system calls for the runtime's own use. The hooks layer interposes the libc wrappers
// (close, read, poll, epoll_wait, ...), so the runtime calls the kernel directly and never
// re-enters a hook.
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

namespace co::detail::sys {

inline int close(int fd) { return static_cast<int>(::syscall(SYS_close, fd)); }
inline long read(int fd, void* buf, std::size_t n) { return ::syscall(SYS_read, fd, buf, n); }
inline long write(int fd, const void* buf, std::size_t n) {
  return ::syscall(SYS_write, fd, buf, n);
}
inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) {
  return static_cast<int>(::syscall(SYS_epoll_pwait, epfd, events, max, timeout_ms, nullptr, 8));
}
// poll with a millisecond timeout (< 0: forever), through ppoll.
inline int poll(pollfd* fds, nfds_t nfds, int timeout_ms) {
  timespec ts{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
  return static_cast<int>(
      ::syscall(SYS_ppoll, fds, nfds, timeout_ms < 0 ? nullptr : &ts, nullptr, 8));
}

}  // namespace co::detail::sys
