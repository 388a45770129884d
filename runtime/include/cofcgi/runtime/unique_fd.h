// co::UniqueFd: a move-only owner of a file descriptor for code above the runtime (the
// FastCGI server, tests, benchmarks). Closing it first drops the fd from this thread's
// netpoller (co::fd_closing), so coroutines parked on it wake with WakeReason::closed and a
// later fd with the same number is not mistaken for this one.
//
// BasicUniqueFd<Close> is the owner with the closing left to a policy: the runtime's own fds
// (epoll, eventfd) are closed with the raw syscall instead, so the hooks layer (which
// interposes close) never sees them (runtime/src/unique_fd.h).
#pragma once

#include <unistd.h>

#include <utility>

#include "cofcgi/runtime/netpoll.h"

namespace co {

template <class Close>
class BasicUniqueFd {
 public:
  BasicUniqueFd() = default;
  explicit BasicUniqueFd(int fd) : fd_(fd) {}
  BasicUniqueFd(BasicUniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  BasicUniqueFd& operator=(BasicUniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  BasicUniqueFd(const BasicUniqueFd&) = delete;
  BasicUniqueFd& operator=(const BasicUniqueFd&) = delete;
  ~BasicUniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // release gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) Close{}(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// CloseParked: wake what is parked on the fd (fd_closing), then close(2).
struct CloseParked {
  void operator()(int fd) const {
    fd_closing(fd);
    ::close(fd);
  }
};

using UniqueFd = BasicUniqueFd<CloseParked>;

}  // namespace co
