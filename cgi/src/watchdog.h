// Watchdog: a thread per process that notices a server thread which has not switched
// coroutines for ServerOptions::watchdog_timeout while it had work (its scheduler's
// heartbeat, co::ThreadActivity, stood still and it was not sleeping in epoll_wait), and
// logs what that thread runs: the coroutine and its backtrace, sampled with a signal
// (co::Backtracer::of_thread). One entry per stall; the thread is looked at again once it
// switched. This is the detector for "a blocking call not in the hook list (or a CPU-bound
// handler) stalls every coroutine on the thread".
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace co::cgi::detail {

class ServerMonitor;

class Watchdog {
 public:
  Watchdog(ServerMonitor& monitor, std::chrono::milliseconds timeout);
  ~Watchdog();  // stops the thread
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  void run();
  ServerMonitor& monitor_;
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is set
};

}  // namespace co::cgi::detail
