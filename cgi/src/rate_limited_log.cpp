#include "rate_limited_log.h"

#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co::cgi::detail {

void RateLimitedLog::warn(std::string_view what) {
  const std::int64_t now = co::now_ns();
  const std::int64_t interval_ns = std::chrono::nanoseconds(interval_).count();
  if (logged_once_ && now - last_ns_ < interval_ns) {
    ++suppressed_;
    return;
  }
  if (suppressed_ > 0) {
    co::log_printf(co::LogLevel::warning, "%.*s (and %llu more times since the last report)",
                   static_cast<int>(what.size()), what.data(),
                   static_cast<unsigned long long>(suppressed_));
  } else {
    co::log_printf(co::LogLevel::warning, "%.*s", static_cast<int>(what.size()), what.data());
  }
  logged_once_ = true;
  last_ns_ = now;
  suppressed_ = 0;
}

}  // namespace co::cgi::detail
