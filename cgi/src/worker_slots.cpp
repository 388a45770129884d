#include "worker_slots.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <new>
#include <system_error>
#include <utility>

namespace co::cgi::detail {

WorkerSlots WorkerSlots::create(std::size_t count) {
  void* p = ::mmap(nullptr, count * sizeof(WorkerCounters), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap worker slots");
  WorkerSlots slots;
  slots.slots_ = static_cast<WorkerCounters*>(p);
  slots.count_ = count;
  for (std::size_t i = 0; i < count; ++i) new (&slots.slots_[i]) WorkerCounters;
  return slots;
}

WorkerSlots::WorkerSlots(WorkerSlots&& other) noexcept
    : slots_(std::exchange(other.slots_, nullptr)), count_(std::exchange(other.count_, 0)) {}

WorkerSlots& WorkerSlots::operator=(WorkerSlots&& other) noexcept {
  std::swap(slots_, other.slots_);
  std::swap(count_, other.count_);
  return *this;
}

WorkerSlots::~WorkerSlots() {
  if (slots_ != nullptr) ::munmap(slots_, count_ * sizeof(WorkerCounters));
}

WorkerCounters& WorkerSlots::claim(std::size_t i) {
  WorkerCounters& c = slots_[i];
  for (auto* counter : {&c.accepted_connections, &c.accepted_requests, &c.rejected_requests,
                        &c.slow_requests, &c.timed_out_requests})
    counter->store(0, std::memory_order_relaxed);
  for (auto* gauge : {&c.in_flight, &c.max_in_flight, &c.listen_queue_max})
    gauge->store(0, std::memory_order_relaxed);
  c.start_time.store(static_cast<std::int64_t>(std::time(nullptr)), std::memory_order_relaxed);
  c.pid.store(::getpid(), std::memory_order_release);
  return c;
}

WorkerTotals WorkerSlots::totals() const {
  WorkerTotals t;
  for (std::size_t i = 0; i < count_; ++i) {
    const WorkerCounters& c = slots_[i];
    if (c.pid.load(std::memory_order_acquire) == 0) continue;
    const auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
    const std::int64_t started = get(c.start_time);
    t.start_time = t.workers == 0 ? started : std::min(t.start_time, started);
    ++t.workers;
    t.accepted_connections += get(c.accepted_connections);
    t.accepted_requests += get(c.accepted_requests);
    t.rejected_requests += get(c.rejected_requests);
    t.slow_requests += get(c.slow_requests);
    t.timed_out_requests += get(c.timed_out_requests);
    t.in_flight += get(c.in_flight);
    t.max_in_flight += get(c.max_in_flight);
    t.listen_queue_max = std::max(t.listen_queue_max, get(c.listen_queue_max));
  }
  return t;
}

}  // namespace co::cgi::detail
