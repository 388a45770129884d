// What the service manager is told (sd_notify through libsystemd; nothing happens when
// NOTIFY_SOCKET is not set, i.e. not run by systemd with Type=notify).
#pragma once

#include <chrono>
#include <string>

namespace co::cgi::detail {

// notify_ready: READY=1, this process as the service's main pid (after a reload the new
// master takes over: the unit needs NotifyAccess=all) and a STATUS line.
void notify_ready(const std::string& status);
void notify_reloading();
void notify_stopping();
void notify_status(const std::string& status);
void notify_watchdog();
// watchdog_interval: how often to send WATCHDOG=1 (half of WatchdogSec), zero when the
// watchdog is off for this process.
std::chrono::milliseconds watchdog_interval();
// pass_watchdog_to: in a child about to exec the next master: systemd's WATCHDOG_PID names
// this process; the new master checks it against its own pid.
void pass_watchdog_to(pid_t pid);

}  // namespace co::cgi::detail
