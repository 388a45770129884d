// Reading hooks. On a socket the user left blocking, the call is made with MSG_DONTWAIT
// (read becomes recv, readv becomes recvmsg) so O_NONBLOCK, which lives on the open file
// description shared with every dup and which libmariadb flips itself, is never touched.
// Other fds (pipes, eventfds, ttys) wait for readiness first, then make the real call.
#include <sys/socket.h>
#include <sys/uio.h>

#include "export.h"
#include "hook_support.h"
#include "real_calls.h"
#include "sys_write.h"

namespace cofcgi::hooks {
namespace {

// read_hook is the common path; `socket_try` is the MSG_DONTWAIT attempt and `real_call` the
// libc call for everything else.
template <typename SocketTry, typename RealCall>
ssize_t read_hook(int fd, SocketTry socket_try, RealCall real_call) {
  if (!co::hooks_active()) return real_call();
  const FdView v = view_of(fd);
  if (v.info == nullptr || v.user_nonblock) return real_call();
  if (v.kind == FdKind::socket) {
    const ssize_t n = retry_on_eagain(fd, Direction::read, v, socket_try);
    if (n >= 0 || errno != ENOTSOCK) return n;
    v.info->kind.store(FdKind::other, std::memory_order_relaxed);  // stale entry: not a socket
  }
  return ready_then_call(fd, Direction::read, v, real_call);
}

ssize_t recvmsg_dontwait(int fd, const iovec* iov, int iovcnt) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
  return REAL(recvmsg)(fd, &msg, MSG_DONTWAIT);
}

// MSG_WAITALL on a blocking socket waits for the whole buffer; with MSG_DONTWAIT the kernel
// returns what it has, so keep reading until full, EOF or error.
ssize_t recv_all(int fd, char* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = read_hook(
        fd, [&] { return REAL(recvfrom)(fd, buf + got, n - got, flags | MSG_DONTWAIT, addr, len); },
        [&] { return REAL(recvfrom)(fd, buf + got, n - got, flags, addr, len); });
    if (r < 0) return got > 0 ? static_cast<ssize_t>(got) : r;
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

ssize_t recvfrom_hook(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  // A caller asking for MSG_DONTWAIT wants EAGAIN, not a park (libco parked it forever).
  if (flags & MSG_DONTWAIT) return REAL(recvfrom)(fd, buf, n, flags, addr, len);
  if ((flags & MSG_WAITALL) && co::hooks_active()) {
    return recv_all(fd, static_cast<char*>(buf), n, flags & ~MSG_WAITALL, addr, len);
  }
  return read_hook(
      fd, [&] { return REAL(recvfrom)(fd, buf, n, flags | MSG_DONTWAIT, addr, len); },
      [&] { return REAL(recvfrom)(fd, buf, n, flags, addr, len); });
}

[[noreturn]] void buffer_overflow() {
  // What glibc's __chk_fail does: the caller asked to read past its buffer.
  static const char msg[] = "*** buffer overflow detected ***: terminated\n";
  raw_write_stderr_literal(msg, sizeof msg - 1);
  abort();
}

}  // namespace
}  // namespace cofcgi::hooks

using namespace cofcgi::hooks;

extern "C" {

COFCGI_HOOK_API ssize_t read(int fd, void* buf, size_t n) {
  return read_hook(
      fd, [&] { return REAL(recv)(fd, buf, n, MSG_DONTWAIT); }, [&] { return REAL(read)(fd, buf, n); });
}

COFCGI_HOOK_API ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) buffer_overflow();
  return read(fd, buf, n);
}

COFCGI_HOOK_API ssize_t readv(int fd, const iovec* iov, int iovcnt) {
  return read_hook(
      fd, [&] { return recvmsg_dontwait(fd, iov, iovcnt); }, [&] { return REAL(readv)(fd, iov, iovcnt); });
}

COFCGI_HOOK_API ssize_t recv(int fd, void* buf, size_t n, int flags) {
  return recvfrom_hook(fd, buf, n, flags, nullptr, nullptr);
}

COFCGI_HOOK_API ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) buffer_overflow();
  return recv(fd, buf, n, flags);
}

COFCGI_HOOK_API ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  return recvfrom_hook(fd, buf, n, flags, addr, len);
}

COFCGI_HOOK_API ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags,
                                       sockaddr* addr, socklen_t* len) {
  if (n > buflen) buffer_overflow();
  return recvfrom(fd, buf, n, flags, addr, len);
}

COFCGI_HOOK_API ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  if (flags & MSG_DONTWAIT) return REAL(recvmsg)(fd, msg, flags);
  return read_hook(
      fd, [&] { return REAL(recvmsg)(fd, msg, flags | MSG_DONTWAIT); },
      [&] { return REAL(recvmsg)(fd, msg, flags); });
}

COFCGI_HOOK_API int recvmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags, timespec* timeout) {
  if (flags & MSG_DONTWAIT) return REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
  // Blocking recvmmsg waits for the first message; the timeout argument is passed on.
  return static_cast<int>(read_hook(
      fd, [&] { return static_cast<ssize_t>(REAL(recvmmsg)(fd, vec, vlen, flags | MSG_DONTWAIT, timeout)); },
      [&] { return static_cast<ssize_t>(REAL(recvmmsg)(fd, vec, vlen, flags, timeout)); }));
}

}  // extern "C"
