// The machine-level context switch: a suspended context is one stack pointer (see
// context_layout.h for the protocol). Coroutine bookkeeping lives in coroutine.h; this
// header knows only about stacks and registers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "arch/context_layout.h"

extern "C" {
// Saves the caller's callee-saved state on its stack, stores the stack pointer in *save_sp
// and resumes the context suspended at resume_sp. Returns when someone resumes *save_sp.
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

// switch_context: the switch the scheduler uses. On x86-64 it is inlined: only the stack
// pointer, rbp, the FP control words and the resume address are handled in asm; the
// clobber list makes the compiler save whatever callee-saved registers are actually live,
// which in the usual park/resume path is few. It follows the same protocol as the .S, so
// either side may have suspended with the other routine.
#if defined(__x86_64__) && !defined(COFCGI_CONTEXT_UCONTEXT) && !defined(COFCGI_NO_INLINE_SWITCH)
#if defined(COFCGI_SWITCH_NO_RED_ZONE)
#define COFCGI_SWITCH_RED_ZONE_ENTER ""
#define COFCGI_SWITCH_RED_ZONE_LEAVE ""
#else
#define COFCGI_SWITCH_RED_ZONE_ENTER "leaq -128(%%rsp), %%rsp\n\t"
#define COFCGI_SWITCH_RED_ZONE_LEAVE "leaq 128(%%rsp), %%rsp\n\t"
#endif
__attribute__((always_inline)) inline void switch_context(void** save_sp, void* resume_sp) {
  // The red zone (SysV ABI §3.2.2): the 128 bytes below rsp may hold the caller's live data,
  // so the pushes below start past it, unless the file was built with -mno-red-zone
  // (scheduler.cpp is: runtime/CMakeLists.txt).
  // clang-format off
  asm volatile(
      COFCGI_SWITCH_RED_ZONE_ENTER
      "pushq %%rbp\n\t"
      "subq $8, %%rsp\n\t"
      "stmxcsr (%%rsp)\n\t"
      "fnstcw 4(%%rsp)\n\t"
      "movq %%rsp, %%rdx\n\t"  // our FP control words, for the side we resume
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "movq %%rsp, (%%rdi)\n\t"
      "movq %%rsi, %%rsp\n\t"
      "popq %%rcx\n\t"
      "jmpq *%%rcx\n"
      "1:\n\t"
      // rdx: the resumer's saved (= live) MXCSR and x87 CW; reload ours only if different.
      "movl (%%rdx), %%eax\n\t"
      "cmpl %%eax, (%%rsp)\n\t"
      "je 2f\n\t"
      "ldmxcsr (%%rsp)\n"
      "2:\n\t"
      "movzwl 4(%%rdx), %%eax\n\t"
      "cmpw %%ax, 4(%%rsp)\n\t"
      "je 3f\n\t"
      "fldcw 4(%%rsp)\n"
      "3:\n\t"
      "addq $8, %%rsp\n\t"
      "popq %%rbp\n\t"
      COFCGI_SWITCH_RED_ZONE_LEAVE
      : "+D"(save_sp), "+S"(resume_sp)
      :
      : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
        "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)",
        "st(4)", "st(5)", "st(6)", "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6",
        "mm7", "memory", "cc");
  // clang-format on
}
#else
inline void switch_context(void** save_sp, void* resume_sp) {
  cofcgi_switch_context(save_sp, resume_sp);
}
#endif

}  // namespace co::detail
