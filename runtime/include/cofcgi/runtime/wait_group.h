// WaitGroup: wait for a set of coroutines to finish (Go's sync.WaitGroup).
#pragma once

#include <cstddef>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co {

class COFCGI_API WaitGroup {
 public:
  void add(std::size_t n = 1) { count_ += n; }
  // done decrements the counter and wakes the waiters when it reaches zero; calling it more
  // often than add() throws std::logic_error.
  void done();
  // wait parks until the counter is zero (returns at once if it is). Only from a coroutine
  // when it has to park.
  void wait();
  std::size_t count() const { return count_; }

 private:
  std::size_t count_ = 0;
  WaitQueue waiters_;
};

}  // namespace co
