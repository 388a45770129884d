#include "timer_queue.h"

namespace co::detail {

void TimerQueue::insert(TimerNode* node) {
  heap_.push_back(node);
  node->index = static_cast<std::uint32_t>(heap_.size() - 1);
  sift_up(node->index);
}

void TimerQueue::cancel(TimerNode* node) {
  if (!node->pending()) return;
  const std::uint32_t i = node->index;
  TimerNode* last = heap_.back();
  heap_.pop_back();
  node->index = TimerNode::kNotQueued;
  if (last == node) return;
  place(i, last);
  sift_up(i);
  sift_down(last->index);
}

std::size_t TimerQueue::expire(Deadline now) {
  std::size_t fired = 0;
  while (!heap_.empty() && heap_.front()->deadline <= now) {
    TimerNode* node = heap_.front();
    cancel(node);
    node->on_expire(node);
    ++fired;
  }
  return fired;
}

void TimerQueue::sift_up(std::uint32_t i) {
  TimerNode* node = heap_[i];
  while (i > 0) {
    const std::uint32_t parent = (i - 1) / 2;
    if (heap_[parent]->deadline <= node->deadline) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, node);
}

void TimerQueue::sift_down(std::uint32_t i) {
  TimerNode* node = heap_[i];
  const auto n = static_cast<std::uint32_t>(heap_.size());
  for (;;) {
    std::uint32_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->deadline < heap_[child]->deadline) ++child;
    if (node->deadline <= heap_[child]->deadline) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, node);
}

}  // namespace co::detail
