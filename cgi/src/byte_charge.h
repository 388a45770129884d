// ByteCharge: bytes one owner holds against a process-wide total (the PARAMS of a request
// against max_buffered_params), given back when the owner goes. A charge without a total
// (unit tests) counts nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <utility>

namespace co::cgi::detail {

class ByteCharge {
 public:
  ByteCharge() = default;
  explicit ByteCharge(std::atomic<std::size_t>* total) : total_(total) {}
  ByteCharge(const ByteCharge&) = delete;
  ByteCharge& operator=(const ByteCharge&) = delete;
  ~ByteCharge() { release(); }

  // try_take adds n unless the total would pass cap; false (nothing taken) then.
  bool try_take(std::size_t n, std::size_t cap) {
    if (total_ == nullptr) return true;
    if (total_->fetch_add(n, std::memory_order_relaxed) + n > cap) {
      total_->fetch_sub(n, std::memory_order_relaxed);
      return false;
    }
    held_ += n;
    return true;
  }
  void release() {
    if (total_ != nullptr) total_->fetch_sub(std::exchange(held_, 0), std::memory_order_relaxed);
  }

 private:
  std::atomic<std::size_t>* total_ = nullptr;
  std::size_t held_ = 0;
};

}  // namespace co::cgi::detail
