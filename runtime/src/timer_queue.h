// TimerQueue: pending deadlines of one scheduler, a binary min-heap of intrusive nodes.
// Insert is O(log n) worst case but O(1) on average for random deadlines; cancel is
// O(log n) through the index each node keeps. Any deadline from 1 ms to days; a million
// pending timers cost 8 bytes of heap slot each plus the node the owner embeds.
#pragma once

#include <cstdint>
#include <vector>

#include "cofcgi/runtime/wait_queue.h"

namespace co::detail {

struct TimerNode {
  using Callback = void (*)(TimerNode*);
  Deadline deadline = kNoDeadline;
  std::uint32_t index = kNotQueued;  // slot in the heap, kNotQueued when not pending
  Callback on_expire = nullptr;
  static constexpr std::uint32_t kNotQueued = UINT32_MAX;
  bool pending() const { return index != kNotQueued; }
};

class TimerQueue {
 public:
  void insert(TimerNode* node);
  void cancel(TimerNode* node);  // no-op when not pending
  // next_deadline is the earliest pending deadline, kNoDeadline when none.
  Deadline next_deadline() const { return heap_.empty() ? kNoDeadline : heap_.front()->deadline; }
  // expire runs the callback of every node whose deadline is <= now; returns how many.
  std::size_t expire(Deadline now);
  std::size_t size() const { return heap_.size(); }

 private:
  void sift_up(std::uint32_t i);
  void sift_down(std::uint32_t i);
  void place(std::uint32_t i, TimerNode* node) {
    heap_[i] = node;
    node->index = i;
  }
  std::vector<TimerNode*> heap_;
};

}  // namespace co::detail
