// Watchdog: if a hooked call blocks the whole thread instead of parking its coroutine, the
// coroutine meant to release it never runs and the test would hang until CTest kills it.
// A watchdog thread performs the release itself after a few seconds, so such a test fails
// on its timing assertions (and on fired()) instead of hanging. The rescue must only make
// syscalls on fds prepared before the watchdog started (it runs on another thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace hooks_test {

class Watchdog {
 public:
  Watchdog(std::chrono::milliseconds after, std::function<void()> rescue)
      : rescue_(std::move(rescue)), thread_([this, after] { watch(after); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { stop(); }

  // stop cancels the rescue (if it has not fired yet) and joins the thread.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool fired() const { return fired_.load(); }

 private:
  void watch(std::chrono::milliseconds after) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (cv_.wait_for(lock, after, [this] { return cancelled_; })) return;
    lock.unlock();
    fired_.store(true);
    rescue_();
  }

  std::function<void()> rescue_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

}  // namespace hooks_test
