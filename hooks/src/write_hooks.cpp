// Writing hooks. A blocking write to a socket returns only when everything is written (or a
// timeout or error cuts it short), so the MSG_DONTWAIT attempts continue from where the last
// partial write stopped, parking while the socket buffer is full.
#include <sys/socket.h>
#include <sys/uio.h>

#include <vector>

#include "cofcgi/runtime/export.h"
#include "hook_support.h"
#include "real_calls.h"

namespace co::hooks {
namespace {

// Advances an iovec array past `done` bytes.
void consume(std::vector<iovec>& iov, std::size_t& first, std::size_t done) {
  while (done > 0 && first < iov.size()) {
    if (done >= iov[first].iov_len) {
      done -= iov[first].iov_len;
      ++first;
    } else {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + done;
      iov[first].iov_len -= done;
      done = 0;
    }
  }
}

// send_fully sends `total` bytes through try_send(offset) with blocking semantics. Returns
// the bytes sent, or -1 with errno when nothing was sent.
template <typename TrySend>
ssize_t send_fully(int fd, const FdView& v, std::size_t total, TrySend try_send) {
  const KeepErrnoOnSuccess keep;
  LazyDeadline deadline(v, Direction::write, CallKind::data);
  std::size_t sent = 0;
  do {
    const ssize_t n = try_send(sent);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (park_until_ready(fd, Direction::write, deadline.get(), v.generation) == 0) continue;
    }
    if (sent > 0) return keep(static_cast<ssize_t>(sent));  // what a partial blocking write reports
    report_timeout();  // EAGAIN here is the park's: the deadline passed
    return -1;
  } while (sent < total);
  return keep(static_cast<ssize_t>(sent));
}

template <typename TrySend, typename RealCall>
ssize_t write_hook(int fd, std::size_t total, TrySend try_send, RealCall real_call) {
  if (!co::hooks_active()) return real_call();
  const FdView v = view_of(fd);
  if (v.info == nullptr) return real_call();
  if (v.user_nonblock) return passing_eagain(real_call(), fd, Direction::write);
  if (v.kind == FdKind::socket) {
    const ssize_t n = send_fully(fd, v, total, try_send);
    if (n >= 0 || errno != ENOTSOCK) return n;
    v.info->kind.store(FdKind::other, std::memory_order_relaxed);
  }
  return ready_then_call(fd, Direction::write, v, real_call);
}

ssize_t sendmsg_hook(int fd, const msghdr* msg, int flags) {
  // A caller asking for MSG_DONTWAIT wants EAGAIN, not a park.
  if (flags & MSG_DONTWAIT)
    return passing_eagain(REAL(sendmsg)(fd, msg, flags), fd, Direction::write);
  const int count = static_cast<int>(msg->msg_iovlen);
  std::vector<iovec> iov;
  std::size_t first = 0;
  std::size_t consumed = 0;
  return write_hook(
      fd, iov_bytes(msg->msg_iov, msg->msg_iovlen),
      [&](std::size_t sent) {
        if (iov.empty()) iov.assign(msg->msg_iov, msg->msg_iov + count);
        consume(iov, first, sent - consumed);
        consumed = sent;
        msghdr m = *msg;
        m.msg_iov = iov.data() + first;
        m.msg_iovlen = iov.size() - first;
        // Ancillary data (fds, credentials) goes with the first byte only.
        if (sent > 0) {
          m.msg_control = nullptr;
          m.msg_controllen = 0;
        }
        return REAL(sendmsg)(fd, &m, flags | MSG_DONTWAIT);
      },
      [&] { return REAL(sendmsg)(fd, msg, flags); });
}

}  // namespace
}  // namespace co::hooks

using namespace co::hooks;

extern "C" {

COFCGI_API ssize_t write(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  return write_hook(
      fd, n, [&](std::size_t sent) { return REAL(send)(fd, p + sent, n - sent, MSG_DONTWAIT); },
      [&] { return REAL(write)(fd, buf, n); });
}

COFCGI_API ssize_t writev(int fd, const iovec* iov, int iovcnt) {
  if (!co::hooks_active() || iovcnt < 0) return REAL(writev)(fd, iov, iovcnt);
  const FdView v = view_of(fd);
  if (v.info == nullptr) return REAL(writev)(fd, iov, iovcnt);
  if (v.user_nonblock) return passing_eagain(REAL(writev)(fd, iov, iovcnt), fd, Direction::write);
  if (v.kind != FdKind::socket) {
    return ready_then_call(fd, Direction::write, v, [&] { return REAL(writev)(fd, iov, iovcnt); });
  }
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
  return sendmsg_hook(fd, &msg, 0);
}

COFCGI_API ssize_t send(int fd, const void* buf, size_t n, int flags) {
  if (flags & MSG_DONTWAIT)
    return passing_eagain(REAL(send)(fd, buf, n, flags), fd, Direction::write);
  const char* p = static_cast<const char*>(buf);
  return write_hook(
      fd, n,
      [&](std::size_t sent) { return REAL(send)(fd, p + sent, n - sent, flags | MSG_DONTWAIT); },
      [&] { return REAL(send)(fd, buf, n, flags); });
}

COFCGI_API ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr,
                          socklen_t len) {
  if (flags & MSG_DONTWAIT)
    return passing_eagain(REAL(sendto)(fd, buf, n, flags, addr, len), fd, Direction::write);
  const char* p = static_cast<const char*>(buf);
  return write_hook(
      fd, n,
      [&](std::size_t sent) {
        return REAL(sendto)(fd, p + sent, n - sent, flags | MSG_DONTWAIT, addr, len);
      },
      [&] { return REAL(sendto)(fd, buf, n, flags, addr, len); });
}

COFCGI_API ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  return sendmsg_hook(fd, msg, flags);
}

COFCGI_API int sendmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags) {
  // Blocking sendmmsg returns after the first message that fits; that is what one
  // successful MSG_DONTWAIT attempt gives too.
  if (!co::hooks_active() || (flags & MSG_DONTWAIT)) return REAL(sendmmsg)(fd, vec, vlen, flags);
  const FdView v = view_of(fd);
  if (v.info == nullptr || v.user_nonblock || v.kind != FdKind::socket)
    return REAL(sendmmsg)(fd, vec, vlen, flags);
  return retry_on_eagain(fd, Direction::write, v,
                         [&] { return REAL(sendmmsg)(fd, vec, vlen, flags | MSG_DONTWAIT); });
}

}  // extern "C"
