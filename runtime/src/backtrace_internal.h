// What a stack walk starts from (backtrace.cpp), and how it is had: from a parked
// coroutine's switch frame, or from a running thread through the sampling signal
// (backtrace_sample.cpp).
#pragma once

#include <pthread.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "coroutine.h"

namespace co::detail {

// DWARF register numbers 0..16 on x86-64 (System V psABI, "DWARF Register Number Mapping"):
// rax rdx rcx rbx rsi rdi rbp rsp r8..r15, then the return address (rip) as 16.
inline constexpr int kDwarfRegisters = 17;

struct WalkStart {
  std::uint64_t regs[kDwarfRegisters] = {};
  bool known[kDwarfRegisters] = {};
  std::uint64_t pc = 0;
  // A copy of the stack's top (a sampled thread moves on while we walk): reads in
  // [copy_base, copy_base + copy_size) come from it.
  const char* copy = nullptr;
  std::uintptr_t copy_base = 0;
  std::size_t copy_size = 0;
};

// walk_start_of_coroutine fills `out` from a coroutine of this thread that is switched out
// with its stack in place; false when it cannot be walked (running, never ran, a shared
// stack copied away, an architecture or context switch without support).
bool walk_start_of_coroutine(const Coroutine* co, WalkStart* out);

// SampleSlot: what the sampling signal's handler fills in on the sampled thread.
struct SampleSlot {
  static constexpr std::size_t kStackCopy = 64 * 1024;
  pthread_t target{};
  std::uint64_t regs[kDwarfRegisters] = {};
  std::uint64_t pc = 0;
  std::uintptr_t stack_base = 0;  // the sampled rsp
  std::size_t stack_size = 0;     // bytes copied from it
  std::uint64_t coroutine_id = 0;
  char coroutine_name[128] = {};
  char stack[kStackCopy];
};

// sample_thread signals `thread` and waits (up to timeout) for its handler to fill a slot.
std::unique_ptr<SampleSlot> sample_thread(pthread_t thread, std::chrono::milliseconds timeout);
void walk_start_of_sample(const SampleSlot& slot, WalkStart* out);

}  // namespace co::detail
