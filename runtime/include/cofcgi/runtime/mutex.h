// Mutex parks the coroutine, not the thread (std::mutex would block every coroutine of the
// thread). For coroutines of one thread; ownership passes FIFO to the longest waiter.
#pragma once

#include <chrono>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co {

class COFCGI_API Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  // Destroying a locked mutex or one with waiters logs an error; waiters get
  // std::system_error(EOWNERDEAD) from lock().
  ~Mutex();

  // lock parks the calling coroutine until it owns the mutex. Parking needs a coroutine:
  // contended lock() outside one throws std::system_error(EPERM).
  void lock();
  bool try_lock();
  template <typename Rep, typename Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> d) {
    return try_lock_until(deadline_after(std::chrono::duration_cast<std::chrono::nanoseconds>(d)));
  }
  bool try_lock_until(Deadline deadline);
  // unlock hands the mutex to the longest waiter, if any. Unlocking a mutex this coroutine
  // does not hold throws std::system_error(EPERM).
  void unlock();

 private:
  friend class CondVar;
  const void* owner_ = nullptr;
  bool locked_ = false;
  WaitQueue waiters_;
};

}  // namespace co
