#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "cofcgi/runtime/netpoll.h"

namespace co::cgi::detail {

namespace {

// write_some: one writev/sendmsg of what is left (at most IOV_MAX pieces).
ssize_t write_some(int fd, FdKind kind, iovec* pieces, std::size_t count) {
  const int n = static_cast<int>(std::min<std::size_t>(count, IOV_MAX));
  if (kind == FdKind::other) return ::writev(fd, pieces, n);
  msghdr msg{};
  msg.msg_iov = pieces;
  msg.msg_iovlen = static_cast<std::size_t>(n);
  return ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// skip_written drops `n` bytes from the front of the pieces; returns the first piece left.
iovec* skip_written(iovec* pieces, std::size_t* count, std::size_t n) {
  while (*count > 0 && n >= pieces->iov_len) {
    n -= pieces->iov_len;
    ++pieces;
    --*count;
  }
  if (*count > 0) {
    pieces->iov_base = static_cast<char*>(pieces->iov_base) + n;
    pieces->iov_len -= n;
  }
  return pieces;
}

// wait_writable parks until fd takes more; false with errno (EAGAIN at the deadline, EBADF
// when the fd was closed meanwhile).
bool wait_writable(int fd, co::Deadline deadline) {
  co::WakeReason reason;
  if (co::wait_fd(fd, POLLOUT, deadline, &reason) != 0) return false;
  if (reason == co::WakeReason::notified) return true;
  errno = reason == co::WakeReason::timeout ? EAGAIN : EBADF;
  return false;
}

}  // namespace

FdKind fd_kind(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? FdKind::socket : FdKind::other;
}

bool write_fully(int fd, FdKind kind, iovec* pieces, std::size_t count, co::Deadline deadline,
                 std::size_t* written) {
  pieces = skip_written(pieces, &count, 0);  // empty pieces in front
  while (count > 0) {
    const ssize_t r = write_some(fd, kind, pieces, count);
    if (r > 0) {
      pieces = skip_written(pieces, &count, static_cast<std::size_t>(r));
      if (written != nullptr) *written += static_cast<std::size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    if (!wait_writable(fd, deadline)) return false;
  }
  return true;
}

bool write_fully(int fd, FdKind kind, std::string_view bytes, co::Deadline deadline,
                 std::size_t* written) {
  iovec piece{const_cast<char*>(bytes.data()), bytes.size()};
  return write_fully(fd, kind, &piece, 1, deadline, written);
}

bool set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

}  // namespace co::cgi::detail
