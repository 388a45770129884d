// The machine-level context switch: a suspended context is one stack pointer (see
// context_layout.h for the frames). Coroutine bookkeeping lives in coroutine.h; this
// header knows only about stacks and registers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "arch/context_layout.h"

extern "C" {
// Saves the caller's callee-saved state on its stack, stores the stack pointer in *save_sp
// and resumes the context suspended at resume_sp. Returns when someone resumes *save_sp.
// One implementation per ABI (arch/switch_*.S, or the ucontext fallback); nothing else
// switches stacks.
void cofcgi_switch_context(void** save_sp, void* resume_sp);
// First code of every coroutine (arch .S, or the ucontext fallback).
void cofcgi_context_start();
// Trap reached if a coroutine's entry function returns; reports and aborts.
[[noreturn]] void cofcgi_context_entry_returned();
}

namespace co::detail {

using ContextEntry = void (*)(void*);

#if defined(COFCGI_CONTEXT_UCONTEXT)
// ucontext fallback: builds a ucontext on the new stack; the returned "stack pointer" is
// opaque and only meaningful to the fallback's cofcgi_switch_context.
void* make_context(void* stack_top, ContextEntry entry, void* arg);
#elif defined(__x86_64__)
// The frame cofcgi_switch_context saves and restores (switch_x86_64_sysv_elf.S), checked
// against context_layout.h, which the .S uses.
struct SwitchFrameX86 {
  std::uint32_t mxcsr;
  std::uint16_t x87_cw;
  std::uint16_t unused;
  void* r12;
  void* r13;
  void* r14;
  void* r15;
  void* rbx;
  void* rbp;
  void* resume;
};
static_assert(offsetof(SwitchFrameX86, mxcsr) == COFCGI_X86_MXCSR);
static_assert(offsetof(SwitchFrameX86, x87_cw) == COFCGI_X86_X87_CW);
static_assert(offsetof(SwitchFrameX86, r12) == COFCGI_X86_R12);
static_assert(offsetof(SwitchFrameX86, r13) == COFCGI_X86_R13);
static_assert(offsetof(SwitchFrameX86, r14) == COFCGI_X86_R14);
static_assert(offsetof(SwitchFrameX86, r15) == COFCGI_X86_R15);
static_assert(offsetof(SwitchFrameX86, rbx) == COFCGI_X86_RBX);
static_assert(offsetof(SwitchFrameX86, rbp) == COFCGI_X86_RBP);
static_assert(offsetof(SwitchFrameX86, resume) == COFCGI_X86_RESUME);
static_assert(sizeof(SwitchFrameX86) == COFCGI_X86_FRAME_SIZE);
static_assert(COFCGI_X86_FRAME_SIZE % 16 == 0, "a fresh frame keeps the stack top's alignment");

// make_context lays out a fresh frame below stack_top, which must be 16-byte aligned: the
// first switch to it runs cofcgi_context_start, which calls entry(arg) with the creator's
// FP control words.
inline void* make_context(void* stack_top, ContextEntry entry, void* arg) {
  auto* frame =
      reinterpret_cast<SwitchFrameX86*>(static_cast<char*>(stack_top) - sizeof(SwitchFrameX86));
  std::uint32_t mxcsr;
  std::uint16_t x87_cw;
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(x87_cw));
  *frame = SwitchFrameX86{mxcsr,   x87_cw,
                          0,       reinterpret_cast<void*>(entry),
                          arg,     nullptr,
                          nullptr, nullptr,
                          nullptr, reinterpret_cast<void*>(&cofcgi_context_start)};
  return frame;
}
#else
// Lays out a first frame (context_layout.h) below stack_top, which must be 16-byte aligned.
inline void* make_context(void* stack_top, ContextEntry entry, void* arg) {
  auto* frame = reinterpret_cast<void**>(static_cast<char*>(stack_top) - COFCGI_FIRST_FRAME_SIZE);
  frame[0] = reinterpret_cast<void*>(&cofcgi_context_start);
  frame[COFCGI_FIRST_FRAME_ENTRY / sizeof(void*)] = reinterpret_cast<void*>(entry);
  frame[COFCGI_FIRST_FRAME_ARG / sizeof(void*)] = arg;
  frame[COFCGI_FIRST_FRAME_PAD / sizeof(void*)] = nullptr;
  return frame;
}
#endif

// switch_context is the switch the scheduler uses: the one asm routine. (An inlined
// asm copy once saved only the live registers; the single routine with one indirect jump
// per switch is as fast and keeps one protocol.)
inline void switch_context(void** save_sp, void* resume_sp) {
  cofcgi_switch_context(save_sp, resume_sp);
}

}  // namespace co::detail
