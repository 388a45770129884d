#include "watchdog.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "cofcgi/runtime/backtrace.h"
#include "cofcgi/runtime/sleep.h"
#include "status_monitor.h"

namespace co::cgi::detail {
namespace {

// What the watchdog last saw of one thread.
struct Seen {
  std::uint64_t rounds = 0;
  std::int64_t since_ns = 0;  // when rounds last moved (or the thread slept)
  bool reported = false;      // this stall was logged
};

void report_stall(ServerMonitor& monitor, const MonitoredThread& t, std::int64_t stalled_ns) {
  co::ThreadSample sample;
  const bool sampled = monitor.backtracer().of_thread(t.activity->thread, &sample);
  char line[512];
  if (!sampled) {
    std::snprintf(line, sizeof line,
                  "watchdog: thread %d has not switched coroutines for %lld ms (no backtrace: "
                  "it did not answer the sampling signal)",
                  t.index, static_cast<long long>(stalled_ns / 1000000));
  } else {
    std::snprintf(line, sizeof line,
                  "watchdog: thread %d has not switched coroutines for %lld ms; it runs %s%llu "
                  "%s (a CPU-bound handler or a blocking call the hooks do not cover)",
                  t.index, static_cast<long long>(stalled_ns / 1000000),
                  sample.coroutine_id != 0 ? "coroutine #" : "its own stack",
                  static_cast<unsigned long long>(sample.coroutine_id),
                  sample.coroutine_name.c_str());
  }
  monitor.log_with_frames(line, sampled ? co::format_frames(sample.frames) : std::string());
}

}  // namespace

Watchdog::Watchdog(ServerMonitor& monitor, std::chrono::milliseconds timeout)
    : monitor_(monitor), timeout_(timeout), thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Watchdog::run() {
  // Looked at four times per timeout: a stall is reported between 1 and 1.25 timeouts in.
  const auto period = std::max(timeout_ / 4, std::chrono::milliseconds(1));
  const std::int64_t timeout_ns = std::chrono::nanoseconds(timeout_).count();
  std::map<const co::ThreadActivity*, Seen> seen;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return stopping_; })) {
    const std::int64_t now = co::now_ns();
    for (const MonitoredThread& t : monitor_.threads()) {
      Seen& s = seen[t.activity];
      const std::uint64_t rounds = t.activity->rounds.load(std::memory_order_relaxed);
      if (rounds != s.rounds || t.activity->sleeping.load(std::memory_order_relaxed) ||
          s.since_ns == 0) {
        s = Seen{rounds, now, false};
        continue;
      }
      if (s.reported || now - s.since_ns < timeout_ns) continue;
      s.reported = true;
      lock.unlock();  // the sample waits for the other thread: do not hold up ~Watchdog
      report_stall(monitor_, t, now - s.since_ns);
      lock.lock();
    }
  }
}

}  // namespace co::cgi::detail
