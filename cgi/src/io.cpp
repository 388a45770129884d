#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cofcgi/runtime/netpoll.h"

namespace co::cgi::detail {

namespace {

// write_some: one write of what is left. send(MSG_NOSIGNAL) on a socket (a peer gone is
// EPIPE, not SIGPIPE); write(2) on anything else (a CGI run's stdout: a pipe, a file).
ssize_t write_some(int fd, const char* data, std::size_t n, bool* is_socket) {
  if (*is_socket) {
    const ssize_t r = ::send(fd, data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0 || errno != ENOTSOCK) return r;
    *is_socket = false;
  }
  return ::write(fd, data, n);
}

}  // namespace

bool write_fully(int fd, const char* data, std::size_t n, co::Deadline deadline,
                 std::size_t* written) {
  bool is_socket = true;
  while (n > 0) {
    const ssize_t r = write_some(fd, data, n, &is_socket);
    if (r > 0) {
      data += r;
      n -= static_cast<std::size_t>(r);
      if (written != nullptr) *written += static_cast<std::size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    co::WakeReason reason;
    if (co::wait_fd(fd, POLLOUT, deadline, &reason) != 0) return false;
    if (reason != co::WakeReason::notified) {
      errno = reason == co::WakeReason::timeout ? EAGAIN : EBADF;
      return false;
    }
  }
  return true;
}

bool set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

}  // namespace co::cgi::detail
