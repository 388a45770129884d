#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include "cofcgi/runtime/netpoll.h"

namespace co::cgi::detail {

bool write_fully(int fd, const char* data, std::size_t n, co::Deadline deadline) {
  while (n > 0) {
    const ssize_t r = ::send(fd, data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0) {
      data += r;
      n -= static_cast<std::size_t>(r);
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
