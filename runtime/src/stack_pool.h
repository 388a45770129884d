// StackPool: a thread's cache of private stacks, so that creating a coroutine costs no
// syscall in the steady state. Bounded: beyond the cap, stacks are unmapped.
#pragma once

#include <cstddef>
#include <vector>

#include "stack_memory.h"

namespace co::detail {

class StackPool {
 public:
  // take returns a pooled stack of exactly `usable` bytes, or maps a new one.
  StackMemory take(std::size_t usable);
  void give_back(StackMemory stack);
  std::size_t pooled() const { return pooled_; }
  // pooled_bytes: usable bytes of the pooled stacks (status pages).
  std::size_t pooled_bytes() const {
    std::size_t bytes = 0;
    for (const Bucket& b : buckets_) bytes += b.size * b.stacks.size();
    return bytes;
  }
  void clear();
  // The pool keeps at most this many stacks of each size.
  static constexpr std::size_t kMaxPerSize = 4096;

 private:
  struct Bucket {
    std::size_t size;
    std::vector<StackMemory> stacks;
  };
  Bucket* bucket_for(std::size_t usable);
  std::vector<Bucket> buckets_;
  std::size_t pooled_ = 0;
};

}  // namespace co::detail
