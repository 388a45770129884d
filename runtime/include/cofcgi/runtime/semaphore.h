// Semaphore: a counter that parks acquirers while it is zero.
#pragma once

#include <chrono>
#include <cstddef>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co {

class COFCGI_API Semaphore {
 public:
  explicit Semaphore(std::size_t initial = 0) : count_(initial) {}
  // acquire parks until the count is positive, then decrements it. Only from a coroutine
  // when it has to park (else std::system_error(EPERM)).
  void acquire();
  bool try_acquire();
  bool try_acquire_until(Deadline deadline);
  template <typename Rep, typename Period>
  bool try_acquire_for(std::chrono::duration<Rep, Period> d) {
    return try_acquire_until(
        deadline_after(std::chrono::duration_cast<std::chrono::nanoseconds>(d)));
  }
  void release(std::size_t n = 1);
  std::size_t count() const { return count_; }

 private:
  std::size_t count_;
  WaitQueue waiters_;
};

}  // namespace co
