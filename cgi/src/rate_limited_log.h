// RateLimitedLog: a warning a peer can trigger at will (a refused connection) is logged at
// most once per interval, with the number of times it happened since the last line.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace co::cgi::detail {

class RateLimitedLog {
 public:
  explicit RateLimitedLog(std::chrono::milliseconds interval = std::chrono::seconds(10))
      : interval_(interval) {}
  // warn logs `what` now, or counts it for the next line when one went out recently.
  void warn(std::string_view what);

 private:
  std::chrono::milliseconds interval_;
  std::int64_t last_ns_ = 0;
  bool logged_once_ = false;
  std::uint64_t suppressed_ = 0;
};

}  // namespace co::cgi::detail
