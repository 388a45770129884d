// detail::Backoff (see backoff.h).
#include "backoff.h"

#include <algorithm>

namespace co::mysql::detail {

Backoff::Admit Backoff::admit(std::string& why, unsigned& code) {
  std::lock_guard<std::mutex> lock(mu_);
  const Deadline now = now_ns();
  if (state_ == State::up) return Admit::go;
  if (state_ == State::down && now >= retry_at_) {
    state_ = State::probing;  // this caller is the one probe
    return Admit::go;
  }
  const auto wait_ms = std::max<Deadline>(0, (retry_at_ - now) / 1000000);
  why = "server unreachable, not trying again for " + std::to_string(wait_ms) +
        " ms (backoff); last error: " + last_error_;
  code = last_code_;
  return Admit::refuse;
}

void Backoff::succeeded() {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = State::up;
  delay_ = std::chrono::milliseconds(0);
}

void Backoff::failed(unsigned code, const std::string& error, std::chrono::nanoseconds took) {
  std::lock_guard<std::mutex> lock(mu_);
  last_code_ = code;
  last_error_ = error;
  // Connects that started before the first failure and fail now do not stretch the delay:
  // only the first failure and each failed probe do.
  if (state_ == State::down) return;
  if (took < initial_) {
    // Refused at once (server down, or full): wait in proportion to what a try costs, so a
    // restarted server is seen within about a millisecond while a crowd of acquirers still
    // sends one connect at a time.
    const auto cost = std::chrono::duration_cast<std::chrono::milliseconds>(took * 4);
    delay_ = std::clamp(cost, std::chrono::milliseconds(1), initial_);
  } else {
    delay_ = delay_ < initial_ ? initial_ : std::min(max_, delay_ * 2);
  }
  state_ = State::down;
  retry_at_ = now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(delay_).count();
}

}  // namespace co::mysql::detail
