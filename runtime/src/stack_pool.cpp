#include "stack_pool.h"

namespace co::detail {

StackPool::Bucket* StackPool::bucket_for(std::size_t usable) {
  for (Bucket& b : buckets_) {
    if (b.size == usable) return &b;
  }
  return nullptr;
}

StackMemory StackPool::take(std::size_t usable) {
  Bucket* b = bucket_for(usable);
  if (b == nullptr || b->stacks.empty()) return StackMemory::allocate(usable);
  StackMemory stack = std::move(b->stacks.back());
  b->stacks.pop_back();
  --pooled_;
  return stack;
}

void StackPool::give_back(StackMemory stack) {
  Bucket* b = bucket_for(stack.usable_size());
  if (b == nullptr) {
    buckets_.push_back(Bucket{stack.usable_size(), {}});
    b = &buckets_.back();
  }
  if (b->stacks.size() >= kMaxPerSize) return;  // unmapped by StackMemory's destructor
  b->stacks.push_back(std::move(stack));
  ++pooled_;
}

void StackPool::clear() {
  buckets_.clear();
  pooled_ = 0;
}

}  // namespace co::detail
