#include "rate_limited_log.h"

#include <cstdarg>
#include <cstdio>

#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co::cgi::detail {

void RateLimitedLog::warn(const char* fmt, ...) {
  const std::int64_t now = co::now_ns();
  const std::int64_t interval_ns = std::chrono::nanoseconds(interval_).count();
  if (logged_once_ && now - last_ns_ < interval_ns) {
    ++suppressed_;
    return;
  }
  char message[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(message, sizeof message, fmt, args);
  va_end(args);
  if (suppressed_ > 0) {
    co::log_printf(co::LogLevel::warning, "%s (and %llu more like it since the last report)",
                   message, static_cast<unsigned long long>(suppressed_));
  } else {
    co::log_printf(co::LogLevel::warning, "%s", message);
  }
  logged_once_ = true;
  last_ns_ = now;
  suppressed_ = 0;
}

}  // namespace co::cgi::detail
