// StopSignals: SIGTERM and SIGINT (drain and stop) and SIGHUP (logged and ignored until
// reload exists) blocked in the server's threads and read through a signalfd, so they are
// handled in a coroutine instead of in a signal handler. Restores the mask when destroyed.
#pragma once

#include <signal.h>

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

 private:
  sigset_t old_mask_;
  co::UniqueFd fd_;
};

}  // namespace co::cgi::detail
