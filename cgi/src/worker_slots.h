// WorkerSlots: one slot of counters per worker process, in a MAP_SHARED anonymous mapping
// made before the workers are forked, so that each worker counts into its own slot and the
// status page of any of them (or the supervisor) sums them all. In the single-process mode
// (--workers 0) the server makes a mapping of one slot for itself.
//
// The counters are lock-free atomics (checked below), which work across processes on a
// shared mapping; each slot is on cache lines of its own so workers do not share lines.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace co::cgi::detail {

struct alignas(64) WorkerCounters {
  std::atomic<std::int64_t> pid{0};
  std::atomic<std::int64_t> start_time{0};  // Unix seconds
  std::atomic<std::uint64_t> accepted_connections{0};
  std::atomic<std::uint64_t> accepted_requests{0};   // requests whose handler started
  std::atomic<std::uint64_t> rejected_requests{0};   // FCGI_OVERLOADED
  std::atomic<std::uint64_t> slow_requests{0};       // past slow_request_timeout
  std::atomic<std::uint64_t> timed_out_requests{0};  // cancelled at request_timeout
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::int64_t> max_in_flight{0};
  std::atomic<std::int64_t> listen_queue_max{0};  // sampled (listen_queue.h)

  // request_started and request_ended keep in_flight and its maximum.
  void request_started() {
    accepted_requests.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t now = in_flight.fetch_add(1, std::memory_order_relaxed) + 1;
    raise_to(max_in_flight, now);
  }
  void request_ended() { in_flight.fetch_sub(1, std::memory_order_relaxed); }
  static void raise_to(std::atomic<std::int64_t>& max, std::int64_t value) {
    std::int64_t seen = max.load(std::memory_order_relaxed);
    while (value > seen && !max.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
  }
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                  std::atomic<std::int64_t>::is_always_lock_free,
              "counters shared between processes must be lock-free atomics");

// The sum over every slot in use (pid != 0), plus how many there were.
struct WorkerTotals {
  std::size_t workers = 0;
  std::int64_t start_time = 0;  // the earliest
  std::uint64_t accepted_connections = 0;
  std::uint64_t accepted_requests = 0;
  std::uint64_t rejected_requests = 0;
  std::uint64_t slow_requests = 0;
  std::uint64_t timed_out_requests = 0;
  std::int64_t in_flight = 0;
  std::int64_t max_in_flight = 0;  // the sum of each worker's maximum
  std::int64_t listen_queue_max = 0;
};

class WorkerSlots {
 public:
  // create maps `count` zeroed slots, shared with the processes forked afterwards; throws
  // std::system_error when mmap fails.
  static WorkerSlots create(std::size_t count);
  WorkerSlots() = default;
  WorkerSlots(WorkerSlots&& other) noexcept;
  WorkerSlots& operator=(WorkerSlots&& other) noexcept;
  WorkerSlots(const WorkerSlots&) = delete;
  WorkerSlots& operator=(const WorkerSlots&) = delete;
  ~WorkerSlots();

  std::size_t count() const { return count_; }
  WorkerCounters& slot(std::size_t i) { return slots_[i]; }
  // claim marks slot i as this process's (pid, start time), zeroing the counts a dead
  // worker left in it: a restarted worker starts from zero, as php-fpm's do.
  WorkerCounters& claim(std::size_t i);
  WorkerTotals totals() const;

 private:
  WorkerCounters* slots_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace co::cgi::detail
