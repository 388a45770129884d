// Channel<T>: a FIFO between coroutines of one thread, buffered (capacity > 0) or
// unbuffered (capacity 0: send returns only once a receiver took the value), closable.
// Values are held in the channel itself, never on a coroutine's stack, so channels work in
// shared-stack mode too.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "cofcgi/runtime/cancel.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co {

template <typename T>
class Channel {
 public:
  explicit Channel(std::size_t capacity = 0) : capacity_(capacity) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // send parks while the channel is full (unbuffered: until a receiver takes the value).
  // Returns false, dropping the value, when the channel is or becomes closed first. In a
  // cancelled coroutine or past its deadline it throws std::system_error (ECANCELED,
  // ETIMEDOUT; cancel.h) instead of parking, and the value is not sent.
  bool send(T value) {
    while (!closed_ && items_.size() >= std::max<std::size_t>(capacity_, 1)) {
      detail::throw_if_interrupted(senders_.wait(), "co::Channel::send");
    }
    if (closed_) return false;
    items_.push_back(std::move(value));
    const std::uint64_t ticket = ++pushed_;
    receivers_.notify_one();
    if (capacity_ == 0) {
      // Rendezvous: wait until a receiver took this value (or the channel closed).
      WakeReason reason = WakeReason::notified;
      while (taken_ < ticket && !closed_ && interruption_errno(reason) == 0) {
        reason = taken_waiters_.wait();
      }
      if (taken_ < ticket && interruption_errno(reason) != 0) {
        items_.pop_back();  // the only value an unbuffered channel holds: ours, not taken
        detail::throw_if_interrupted(reason, "co::Channel::send");
      }
      if (taken_ < ticket) {
        // Closed before anyone took it: the value (the only one an unbuffered channel
        // holds) is dropped, so no receiver gets what the sender was told failed.
        items_.pop_back();
        return false;
      }
    }
    return true;
  }

  // try_send never parks; false when full or closed. An unbuffered channel accepts a value
  // only while a receiver is waiting.
  bool try_send(T value) {
    if (closed_) return false;
    if (capacity_ == 0 ? (receivers_.empty() || !items_.empty()) : items_.size() >= capacity_) {
      return false;
    }
    items_.push_back(std::move(value));
    ++pushed_;
    receivers_.notify_one();
    return true;
  }

  // receive parks until a value is there; empty optional once the channel is closed and
  // drained, or the deadline passed. Cancellation and the coroutine's deadline throw
  // (cancel.h).
  std::optional<T> receive(Deadline deadline = kNoDeadline) {
    while (items_.empty() && !closed_) {
      const WakeReason reason = receivers_.wait(deadline);
      detail::throw_if_interrupted(reason, "co::Channel::receive");
      if (reason == WakeReason::timeout && items_.empty()) return std::nullopt;
    }
    if (items_.empty()) return std::nullopt;
    std::optional<T> value(std::move(items_.front()));
    items_.pop_front();
    ++taken_;
    taken_waiters_.notify_all();
    senders_.notify_one();
    return value;
  }

  std::optional<T> try_receive() {
    if (items_.empty()) return std::nullopt;
    return receive();
  }

  // close wakes every sender and receiver; receivers still drain what is buffered.
  void close() {
    closed_ = true;
    senders_.notify_all();
    receivers_.notify_all();
    taken_waiters_.notify_all();
  }
  bool closed() const { return closed_; }
  std::size_t size() const { return items_.size(); }

 private:
  std::size_t capacity_;
  bool closed_ = false;
  std::deque<T> items_;
  std::uint64_t pushed_ = 0;
  std::uint64_t taken_ = 0;
  WaitQueue senders_;
  WaitQueue receivers_;
  WaitQueue taken_waiters_;
};

}  // namespace co
