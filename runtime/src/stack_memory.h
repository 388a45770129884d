// StackMemory: one mmap'd coroutine stack with a guard page below it, owned RAII-style.
// The guard is installed with madvise(MADV_GUARD_INSTALL) where the kernel has it (Linux >=
// 6.13: no extra mapping), else with mprotect(PROT_NONE), which splits the mapping and so
// costs an extra vm.max_map_count entry; those are handed out from a budget so that running
// out is a clear error rather than a failed mmap somewhere unrelated.
#pragma once

#include <cstddef>
#include <utility>

namespace co::detail {

class StackMemory {
 public:
  StackMemory() = default;
  // allocate maps `usable` bytes (a page multiple) plus the guard page; throws
  // std::system_error naming the limit (memory, vm.max_map_count) on failure.
  static StackMemory allocate(std::size_t usable);
  StackMemory(StackMemory&& other) noexcept { swap(other); }
  StackMemory& operator=(StackMemory&& other) noexcept {
    StackMemory(std::move(other)).swap(*this);
    return *this;
  }
  StackMemory(const StackMemory&) = delete;
  StackMemory& operator=(const StackMemory&) = delete;
  // Inline check: most StackMemory objects destroyed are moved-from shells (pool, create).
  ~StackMemory() {
    if (mapping_ != nullptr) release();
  }

  char* bottom() const { return mapping_ + guard_size_; }  // lowest usable byte
  char* top() const { return mapping_ + mapping_size_; }   // one past the highest byte
  std::size_t usable_size() const { return mapping_size_ - guard_size_; }
  explicit operator bool() const { return mapping_ != nullptr; }

  void swap(StackMemory& other) noexcept {
    std::swap(mapping_, other.mapping_);
    std::swap(mapping_size_, other.mapping_size_);
    std::swap(guard_size_, other.guard_size_);
    std::swap(mprotect_guard_, other.mprotect_guard_);
  }

 private:
  void release();  // unmaps; mapping_ must be set
  char* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  std::size_t guard_size_ = 0;
  bool mprotect_guard_ = false;
};

std::size_t page_size();
// round_stack_size validates a requested size (0 = default) and rounds it to pages; throws
// std::system_error(EINVAL) outside [kMinStackSize, kMaxStackSize].
std::size_t round_stack_size(std::size_t requested);

}  // namespace co::detail
