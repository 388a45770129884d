// co::UniqueFd: a move-only owner of a file descriptor for code above the runtime (the
// FastCGI server, tests, benchmarks). Closing it first drops the fd from this thread's
// netpoller (co::fd_closing), so coroutines parked on it wake with WakeReason::closed and a
// later fd with the same number is not mistaken for this one.
#pragma once

#include <unistd.h>

#include <utility>

#include "cofcgi/runtime/netpoll.h"

namespace co {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // release gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      fd_closing(fd_);
      ::close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace co
