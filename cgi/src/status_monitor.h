// ServerMonitor: what the status page, the slow log and the watchdog share for one server
// process: the worker's counters (worker_slots.h), the server threads (to ask each for its
// part of a page), the sections apps add (cofcgi/cgi/status.h), one Backtracer, and the
// slow log's rate limit. Owned by Server::Impl; ServerState::monitor points at it (null in a
// CGI run, which has none of this).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cofcgi/cgi/server_options.h"
#include "cofcgi/cgi/status.h"
#include "cofcgi/runtime/backtrace.h"
#include "cofcgi/runtime/inspect.h"
#include "cofcgi/runtime/scheduler.h"
#include "worker_slots.h"

namespace co::cgi::detail {

struct ThreadContext;
class Watchdog;

// A server thread as the monitor reaches it.
struct MonitoredThread {
  int index = 0;
  ThreadContext* ctx = nullptr;
  co::Executor executor;
  const co::ThreadActivity* activity = nullptr;
};

class ServerMonitor {
 public:
  // In the single-process mode the monitor maps one slot of its own at start(); a worker's
  // supervisor passes its shared slots and the worker's index first (use_worker_slot).
  explicit ServerMonitor(const ServerOptions& options);
  ~ServerMonitor();
  ServerMonitor(const ServerMonitor&) = delete;
  ServerMonitor& operator=(const ServerMonitor&) = delete;

  // use_worker_slot: count into slot `index` of the supervisor's shared slots (which must
  // outlive the monitor) and sum all of them on the status page. Before start().
  void use_worker_slot(WorkerSlots* shared, std::size_t index);
  // start: the process serves on listen_fd (after any fork): claims its slot and starts
  // the watchdog when watchdog_timeout is set.
  void start(int listen_fd);
  WorkerCounters& counters() { return *counters_; }
  const WorkerSlots& slots() const { return *slots_; }
  int listen_fd() const { return listen_fd_; }
  const ServerOptions& options() const { return options_; }

  // Threads register while their scheduler runs (ThreadMonitor does it).
  void add_thread(ThreadContext* ctx);
  void remove_thread(ThreadContext* ctx);
  std::vector<MonitoredThread> threads() const;
  // post_to runs fn on the thread of ctx if it is still registered; false otherwise.
  template <typename Fn>
  bool post_to(ThreadContext* ctx, Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const MonitoredThread& t : threads_) {
      if (t.ctx != ctx) continue;
      t.executor.post(std::forward<Fn>(fn));  // under the lock: the thread cannot be gone
      return true;
    }
    return false;
  }
  // this_thread: the calling thread's context (null when it is not a server thread).
  ThreadContext* this_thread() const;

  void add_section(std::string name, StatusSection fn);
  const std::vector<std::pair<std::string, StatusSection>>& sections() const { return sections_; }

  co::Backtracer& backtracer() { return backtracer_; }

  // take_slow_log_token: whether one more slow-log entry may be written now (at most
  // slow_log_rate per second, a burst of as many); counts the ones refused.
  bool take_slow_log_token(std::int64_t now_ns);
  std::uint64_t take_suppressed() { return suppressed_.exchange(0, std::memory_order_relaxed); }
  // log_with_frames writes a log line and the backtrace lines under it, kept together
  // (slow log, watchdog). The frames go with the raw syscall, not a hooked write that could
  // park the caller while it holds the lock.
  void log_with_frames(const std::string& line, const std::string& frames);

  // sample_listen_queue records the accept queue's length into the maximum.
  void sample_listen_queue();

 private:
  const ServerOptions& options_;
  int listen_fd_ = -1;
  WorkerSlots own_slots_;
  WorkerSlots* slots_ = nullptr;
  WorkerCounters* counters_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<MonitoredThread> threads_;
  int next_index_ = 0;
  std::vector<std::pair<std::string, StatusSection>> sections_;
  co::Backtracer backtracer_;
  std::mutex limiter_mutex_;
  double tokens_ = 0;
  std::int64_t tokens_at_ns_ = 0;
  std::atomic<std::uint64_t> suppressed_{0};
  std::mutex log_mutex_;
  std::unique_ptr<Watchdog> watchdog_;  // last: stopped before what it reads goes
};

// count adds one to a counter of the server's monitor, if it has one (not in a CGI run).
template <typename Member>
void count(ServerMonitor* monitor, Member member) {
  if (monitor != nullptr) (monitor->counters().*member).fetch_add(1, std::memory_order_relaxed);
}

}  // namespace co::cgi::detail
