// Driving the per-thread scheduler: co::run() is the event loop for the C++ API (libco's
// co_eventloop is the same loop).
#pragma once

#include <cstddef>
#include <functional>

#include "cofcgi/runtime/export.h"

namespace co {

// run drives this thread's scheduler until every coroutine started with go() on this thread
// has finished, or stop() is called. It sleeps in epoll_wait until the next event or timer:
// an idle scheduler makes no wake-ups. Call it from the thread's own stack, not from a
// coroutine (throws std::system_error(EDEADLK) there).
COFCGI_API void run();

// stop makes the innermost run() on this thread return after the current iteration.
COFCGI_API void stop();

// A handle to one thread's scheduler that other threads may use to hand it work.
class COFCGI_API Executor {
 public:
  // current is the handle of the calling thread's scheduler (created if needed).
  static Executor current();
  // post runs fn on the scheduler's thread, in a new coroutine, as soon as its loop runs.
  // Thread-safe; wakes the loop through an eventfd.
  void post(std::function<void()> fn) const;

 private:
  explicit Executor(void* scheduler) : scheduler_(scheduler) {}
  void* scheduler_;
};

// What a scheduler holds, for leak checks and monitoring.
struct Stats {
  std::size_t live_coroutines = 0;  // created and not yet destroyed (all APIs)
  std::size_t ready = 0;            // queued to run
  std::size_t pending_timers = 0;
  std::size_t stacks_in_use = 0;  // private stacks owned by live coroutines
  std::size_t stacks_pooled = 0;  // private stacks kept for reuse
  std::size_t polled_fds = 0;     // fds registered with the netpoller
};
COFCGI_API Stats stats();

// release_pooled_stacks unmaps the stacks this thread keeps for reuse.
COFCGI_API void release_pooled_stacks();

}  // namespace co
