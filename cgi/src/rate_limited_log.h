// RateLimitedLog: a warning a peer can trigger at will (a refused connection, malformed
// input, an overloaded server) is logged at most once per interval, with the number of
// times it happened since the last line. One per kind of warning and thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace co::cgi::detail {

class RateLimitedLog {
 public:
  explicit RateLimitedLog(std::chrono::milliseconds interval = std::chrono::seconds(10))
      : interval_(interval) {}
  // warn logs the printf-style message now, or counts it for the next line when one went
  // out less than an interval ago.
  [[gnu::format(printf, 2, 3)]] void warn(const char* fmt, ...);

 private:
  std::chrono::milliseconds interval_;
  std::int64_t last_ns_ = 0;
  bool logged_once_ = false;
  std::uint64_t suppressed_ = 0;
};

}  // namespace co::cgi::detail
