#include "body_budget.h"

namespace co::cgi::detail {

void BodyBudget::take(std::size_t n) {
  held_ += n;
  process_total_.fetch_add(n, std::memory_order_relaxed);
}

void BodyBudget::release(std::size_t n) {
  if (n == 0) return;
  held_ -= n;
  process_total_.fetch_sub(n, std::memory_order_relaxed);
  room_.notify_all();
}

bool BodyBudget::over() const {
  if (held_ - lifted_ >= connection_cap_) return true;
  return held_ > 0 && process_total_.load(std::memory_order_relaxed) >= process_cap_;
}

}  // namespace co::cgi::detail
