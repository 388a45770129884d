#include "thread_monitor.h"

#include <algorithm>
#include <chrono>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/sleep.h"
#include "slow_log.h"
#include "status_monitor.h"
#include "thread_context.h"

namespace co::cgi::detail {
namespace {

using namespace std::chrono_literals;

// The ticker's period: often enough that a slow request is logged near its timeout, and the
// accept queue's maximum is seen; ten wake-ups a second at most.
std::chrono::milliseconds tick_of(const ServerOptions& o) {
  if (o.slow_request_timeout.count() <= 0) return 100ms;
  return std::clamp(o.slow_request_timeout / 4, std::chrono::milliseconds(10), 100ms);
}

void tick_until_drained(ThreadContext& ctx, ServerMonitor& monitor) {
  const std::chrono::milliseconds tick = tick_of(monitor.options());
  const bool slow_log = monitor.options().slow_request_timeout.count() > 0;
  while (!ctx.draining()) {
    co::sleep_for(tick);
    monitor.sample_listen_queue();
    if (slow_log) log_slow_requests(ctx, monitor, co::now_ns());
  }
}

}  // namespace

ThreadMonitor::ThreadMonitor(ServerMonitor* monitor, ThreadContext& ctx)
    : monitor_(monitor), ctx_(ctx) {
  if (monitor_ == nullptr) return;
  monitor_->add_thread(&ctx);
  co::Options options;
  options.name = "status-ticker";
  co::go(options, [this] { tick_until_drained(ctx_, *monitor_); });
}

ThreadMonitor::~ThreadMonitor() {
  if (monitor_ != nullptr) monitor_->remove_thread(&ctx_);
}

}  // namespace co::cgi::detail
