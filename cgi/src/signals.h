// StopSignals: SIGTERM and SIGINT (drain and stop), SIGHUP (logged and ignored until
// reload exists) and SIGUSR1 (reopen the log files: logrotate's postrotate) blocked in the
// server's threads and read through a signalfd, so they are handled in a coroutine instead of
// in a signal handler. Restores the mask when destroyed.
#pragma once

#include <signal.h>

#include <functional>

#include "cofcgi/runtime/unique_fd.h"

namespace co::cgi::detail {

class StopSignals {
 public:
  StopSignals();  // throws std::system_error
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  int fd() const { return fd_.get(); }
  // take_stop reads the pending signals, logging each: true when one of them asks to stop.
  bool take_stop();
  // on_reopen runs (in take_stop's coroutine) for each SIGUSR1.
  std::function<void()> on_reopen;

 private:
  sigset_t old_mask_;
  co::UniqueFd fd_;
};

}  // namespace co::cgi::detail
