// Reading hooks. On a socket the user left blocking, the call is made with MSG_DONTWAIT
// (read becomes recv, readv becomes recvmsg) so O_NONBLOCK, which lives on the open file
// description shared with every dup and which libmariadb flips itself, is never touched.
// Other fds (pipes, eventfds, ttys) wait for readiness first, then make the real call.
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "cofcgi/runtime/export.h"
#include "hook_support.h"
#include "read_note.h"
#include "real_calls.h"
#include "sys_write.h"

namespace co::hooks {
namespace {

// read_now is a read of socket fd that must not park (O_NONBLOCK, MSG_DONTWAIT): noted not
// ready, it may answer EAGAIN without a syscall (read_note.h), else it makes the call and
// notes what it says.
template <typename Call>
ssize_t read_now(int fd, FdView v, ReadAsk ask, Call call) {
  if (read_noted_empty(fd, v, ask) && lend_eagain(v)) {
    errno = EAGAIN;
    return -1;
  }
  return noting_read(call(), fd, v, ask);
}

// read_hook is the common path; `socket_try` is the MSG_DONTWAIT attempt and `real_call` the
// libc call for everything else. Inlined into each exported call: a coroutine parked in it
// keeps one frame in its saved stack, not two.
template <typename SocketTry, typename RealCall>
[[gnu::always_inline]] inline ssize_t read_hook(int fd, ReadAsk ask, SocketTry socket_try,
                                                RealCall real_call) {
  if (!co::hooks_active()) return real_call();
  const FdView v = view_of(fd);
  if (v.info == nullptr) return real_call();
  if (v.kind == FdKind::socket) {
    if (v.user_nonblock) return read_now(fd, v, ask, real_call);
    const ssize_t n = retry_on_eagain(fd, Direction::read, v, socket_try, CallKind::data,
                                      read_noted_empty(fd, v, ask));
    if (n > 0) note_short_read(fd, v, n, ask);
    if (n >= 0 || errno != ENOTSOCK) return n;
    v.info->kind.store(FdKind::other, std::memory_order_relaxed);  // stale entry: not a socket
  }
  if (v.user_nonblock) return passing_eagain(real_call(), fd, Direction::read);
  return ready_then_call(fd, Direction::read, v, real_call);
}

// read_dontwait is a read with MSG_DONTWAIT: EAGAIN, not a park (libco parked it forever).
// libmariadb reads so, then polls: the note lets that poll park at once.
template <typename Call>
ssize_t read_dontwait(int fd, ReadAsk ask, Call call) {
  if (co::hooks_active()) {
    const FdView v = view_of(fd);
    if (v.info != nullptr && v.kind == FdKind::socket) return read_now(fd, v, ask, call);
  }
  return passing_eagain(call(), fd, Direction::read);
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
  const KeepErrnoOnSuccess keep;
  size_t got = 0;
  while (got < n) {
    const ssize_t r = read_hook(
        fd, read_ask(n - got, flags),
        [&] { return REAL(recvfrom)(fd, buf + got, n - got, flags | MSG_DONTWAIT, addr, len); },
        [&] { return REAL(recvfrom)(fd, buf + got, n - got, flags, addr, len); });
    if (r < 0) return got > 0 ? keep(static_cast<ssize_t>(got)) : r;
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return keep(static_cast<ssize_t>(got));
}

ssize_t recvfrom_hook(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  if (flags & MSG_DONTWAIT)
    return read_dontwait(fd, read_ask(n, flags),
                         [&] { return REAL(recvfrom)(fd, buf, n, flags, addr, len); });
  if ((flags & MSG_WAITALL) && co::hooks_active()) {
    return recv_all(fd, static_cast<char*>(buf), n, flags & ~MSG_WAITALL, addr, len);
  }
  return read_hook(
      fd, read_ask(n, flags),
      [&] { return REAL(recvfrom)(fd, buf, n, flags | MSG_DONTWAIT, addr, len); },
      [&] { return REAL(recvfrom)(fd, buf, n, flags, addr, len); });
}

[[noreturn]] void buffer_overflow() {
  // What glibc's __chk_fail does: the caller asked to read past its buffer.
  static const char msg[] = "*** buffer overflow detected ***: terminated\n";
  raw_write_stderr_literal(msg, sizeof msg - 1);
  abort();
}

}  // namespace
}  // namespace co::hooks

using namespace co::hooks;

extern "C" {

COFCGI_API ssize_t read(int fd, void* buf, size_t n) {
  return read_hook(
      fd, ReadAsk{n}, [&] { return REAL(recv)(fd, buf, n, MSG_DONTWAIT); },
      [&] { return REAL(read)(fd, buf, n); });
}

COFCGI_API ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) buffer_overflow();
  return read(fd, buf, n);
}

COFCGI_API ssize_t readv(int fd, const iovec* iov, int iovcnt) {
  return read_hook(
      fd, ReadAsk{iov_bytes(iov, iovcnt > 0 ? static_cast<std::size_t>(iovcnt) : 0)},
      [&] { return recvmsg_dontwait(fd, iov, iovcnt); },
      [&] { return REAL(readv)(fd, iov, iovcnt); });
}

COFCGI_API ssize_t recv(int fd, void* buf, size_t n, int flags) {
  return recvfrom_hook(fd, buf, n, flags, nullptr, nullptr);
}

COFCGI_API ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) buffer_overflow();
  return recv(fd, buf, n, flags);
}

COFCGI_API ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr,
                            socklen_t* len) {
  return recvfrom_hook(fd, buf, n, flags, addr, len);
}

COFCGI_API ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags,
                                  sockaddr* addr, socklen_t* len) {
  if (n > buflen) buffer_overflow();
  return recvfrom(fd, buf, n, flags, addr, len);
}

COFCGI_API ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  const ReadAsk ask =
      read_ask(msg != nullptr ? iov_bytes(msg->msg_iov, msg->msg_iovlen) : 0, flags, msg);
  if (flags & MSG_DONTWAIT)
    return read_dontwait(fd, ask, [&] { return REAL(recvmsg)(fd, msg, flags); });
  return read_hook(
      fd, ask, [&] { return REAL(recvmsg)(fd, msg, flags | MSG_DONTWAIT); },
      [&] { return REAL(recvmsg)(fd, msg, flags); });
}

COFCGI_API int recvmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags, timespec* timeout) {
  if ((flags & MSG_DONTWAIT) || !co::hooks_active())
    return REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
  // A blocking recvmmsg waits for the first datagram, then goes on receiving until vlen
  // arrived: with MSG_WAITFORONE only what is already queued, otherwise waiting for more.
  // `timeout` is checked (and set to the time left) only after each datagram, as Linux does
  // (man recvmmsg, BUGS); SO_RCVTIMEO ends a wait, returning what arrived.
  if (vlen > IOV_MAX) vlen = IOV_MAX;  // the kernel's UIO_MAXIOV clamp
  const KeepErrnoOnSuccess keep;
  const co::Deadline end =
      timeout != nullptr ? co::now_ns() + static_cast<co::Deadline>(timeout->tv_sec) * 1000000000 +
                               timeout->tv_nsec
                         : co::kNoDeadline;
  unsigned int got = 0;
  while (got < vlen) {
    ssize_t r;
    if (got > 0 && (flags & MSG_WAITFORONE)) {
      r = REAL(recvmmsg)(fd, vec + got, vlen - got, flags | MSG_DONTWAIT, nullptr);
    } else {
      // Datagrams: no short-read note, nor a park before trying (a ReadAsk of size 0).
      r = read_hook(
          fd, ReadAsk{},
          [&] {
            return static_cast<ssize_t>(
                REAL(recvmmsg)(fd, vec + got, vlen - got, flags | MSG_DONTWAIT, nullptr));
          },
          [&] {
            return static_cast<ssize_t>(REAL(recvmmsg)(fd, vec + got, vlen - got, flags, nullptr));
          });
    }
    if (r < 0) {
      if (got > 0) break;  // what arrived before the error or timeout
      return -1;
    }
    if (r == 0) break;
    got += static_cast<unsigned int>(r);
    if (timeout != nullptr) {
      const co::Deadline left = end - co::now_ns();
      if (left <= 0) {
        *timeout = timespec{0, 0};
        break;
      }
      *timeout =
          timespec{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    }
  }
  return keep(static_cast<int>(got));
}

}  // extern "C"
