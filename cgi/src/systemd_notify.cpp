#include "systemd_notify.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>

namespace co::cgi::detail {

void notify_ready(const std::string& status) {
  const std::string message =
      "READY=1\nMAINPID=" + std::to_string(::getpid()) + "\nSTATUS=" + status;
  (void)sd_notify(0, message.c_str());
}

void notify_reloading() { (void)sd_notify(0, "RELOADING=1\nSTATUS=reloading"); }

void notify_stopping() { (void)sd_notify(0, "STOPPING=1\nSTATUS=stopping"); }

void notify_status(const std::string& status) { (void)sd_notify(0, ("STATUS=" + status).c_str()); }

void notify_watchdog() { (void)sd_notify(0, "WATCHDOG=1"); }

std::chrono::milliseconds watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::max<std::uint64_t>(usec / 2000, 1));
}

void pass_watchdog_to(pid_t pid) {
  if (std::getenv("WATCHDOG_USEC") != nullptr) {
    ::setenv("WATCHDOG_PID", std::to_string(pid).c_str(), 1);
  }
}

}  // namespace co::cgi::detail
