// LeakCheck: a fixture that fails the test when it ends with more live coroutines, stacks
// in use, pending timers or polled fds than it started with, or with more open fds.
#pragma once

#include <dirent.h>
#include <doctest/doctest.h>

#include "cofcgi/runtime/scheduler.h"

namespace cofcgi_test {

inline int count_open_fds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n;
}

class LeakCheck {
 public:
  LeakCheck() : before_(co::stats()), fds_(count_open_fds()) {}
  ~LeakCheck() {
    const co::Stats after = co::stats();
    CHECK_MESSAGE(after.live_coroutines == before_.live_coroutines, "coroutines leaked");
    CHECK_MESSAGE(after.stacks_in_use == before_.stacks_in_use, "stacks leaked");
    CHECK_MESSAGE(after.pending_timers == before_.pending_timers, "timers left pending");
    CHECK_MESSAGE(after.ready == before_.ready, "coroutines left queued");
    CHECK_MESSAGE(count_open_fds() == fds_, "file descriptors leaked");
  }

 private:
  co::Stats before_;
  int fds_;
};

}  // namespace cofcgi_test
