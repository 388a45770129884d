#include "status_monitor.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "cofcgi/runtime/log.h"
#include "listen_queue.h"
#include "watchdog.h"

namespace co::cgi::detail {

ServerMonitor::ServerMonitor(const ServerOptions& options)
    : options_(options), tokens_(static_cast<double>(options.slow_log_rate)) {}

ServerMonitor::~ServerMonitor() = default;

void ServerMonitor::start(int listen_fd) {
  listen_fd_ = listen_fd;
  if (slots_ == nullptr) {
    own_slots_ = WorkerSlots::create(1);
    slots_ = &own_slots_;
    counters_ = &own_slots_.claim(0);
  }
  if (options_.watchdog_timeout.count() > 0)
    watchdog_ = std::make_unique<Watchdog>(*this, options_.watchdog_timeout);
}

void ServerMonitor::log_with_frames(const std::string& line, const std::string& frames) {
  std::lock_guard<std::mutex> lock(log_mutex_);
  co::log_printf(co::LogLevel::warning, "%s", line.c_str());
  if (co::log_level() > co::LogLevel::warning) return;
  std::size_t done = 0;
  while (done < frames.size()) {
    const long n = ::syscall(SYS_write, 2, frames.data() + done, frames.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

void ServerMonitor::use_worker_slot(WorkerSlots* shared, std::size_t index) {
  slots_ = shared;
  counters_ = &shared->claim(index);
}

void ServerMonitor::add_thread(ThreadContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  threads_.push_back(
      MonitoredThread{next_index_++, ctx, co::Executor::current(), &co::this_thread_activity()});
}

void ServerMonitor::remove_thread(ThreadContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  threads_.erase(std::remove_if(threads_.begin(), threads_.end(),
                                [ctx](const MonitoredThread& t) { return t.ctx == ctx; }),
                 threads_.end());
}

std::vector<MonitoredThread> ServerMonitor::threads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return threads_;
}

ThreadContext* ServerMonitor::this_thread() const {
  const pthread_t self = ::pthread_self();
  std::lock_guard<std::mutex> lock(mutex_);
  for (const MonitoredThread& t : threads_) {
    if (::pthread_equal(t.activity->thread, self)) return t.ctx;
  }
  return nullptr;
}

void ServerMonitor::add_section(std::string name, StatusSection fn) {
  sections_.emplace_back(std::move(name), std::move(fn));
}

bool ServerMonitor::take_slow_log_token(std::int64_t now_ns) {
  const double rate = static_cast<double>(options_.slow_log_rate);
  std::lock_guard<std::mutex> lock(limiter_mutex_);
  if (tokens_at_ns_ != 0) {
    tokens_ = std::min(rate, tokens_ + rate * static_cast<double>(now_ns - tokens_at_ns_) / 1e9);
  }
  tokens_at_ns_ = now_ns;
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return true;
  }
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void ServerMonitor::sample_listen_queue() {
  if (const auto queue = listen_queue_of(listen_fd_)) {
    WorkerCounters::raise_to(counters_->listen_queue_max, queue->length);
  }
}

}  // namespace co::cgi::detail
