#include "signals.h"

#include <errno.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <system_error>

#include "cofcgi/runtime/log.h"

namespace co::cgi::detail {

StopSignals::StopSignals() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGUSR1);
  // Blocked before the server threads start: they inherit the mask.
  pthread_sigmask(SIG_BLOCK, &mask, &old_mask_);
  fd_.reset(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) {
    const int error = errno;
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    throw std::system_error(error, std::generic_category(), "signalfd");
  }
}

StopSignals::~StopSignals() {
  // Consumed first: a pending SIGTERM would kill the process once unblocked.
  (void)take_stop();
  fd_.reset();
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

bool StopSignals::take_stop() {
  bool stop = false;
  signalfd_siginfo info;
  while (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    const int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGUSR1) {
      co::log_printf(co::LogLevel::info, "got SIGUSR1: reopening the log files");
      if (on_reopen) on_reopen();
      continue;
    }
    if (sig == SIGHUP) {
      co::log_printf(co::LogLevel::warning,
                     "got SIGHUP: ignored (reload is not supported yet; SIGTERM stops)");
      continue;
    }
    co::log_printf(co::LogLevel::info, "got %s", strsignal(sig));
    stop = true;
  }
  return stop;
}

}  // namespace co::cgi::detail
