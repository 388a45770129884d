// Portable context switch on top of POSIX ucontext (getcontext/makecontext/swapcontext),
// built instead of the arch .S when COFCGI_CONTEXT_UCONTEXT is defined: for targets without
// a hand-written switch, and as a reference implementation to test the fast ones against.
//
// The opaque "stack pointer" of context.h is here a ucontext_t*:
//  - a suspended caller's ucontext_t is a local of its own cofcgi_switch_context frame,
//    which stays alive exactly as long as it is suspended;
//  - a fresh coroutine's ucontext_t, together with a small start record (entry, arg), is
//    carved out of the top of its stack by make_context, and uc_stack is the space below.
//
// A fresh context starts with the signal mask and FP environment captured by getcontext in
// make_context (the creator's, at creation time), where the .S starts it with those of
// whoever first resumes it.
//
// Costs compared with the .S: swapcontext saves and restores the signal mask (a
// rt_sigprocmask syscall per switch) and the whole FP environment. It does preserve
// everything the .S preserves (callee-saved registers, FP control state), so the two are
// interchangeable apart from speed - but contexts of the two kinds cannot resume each
// other: build the whole runtime with or without COFCGI_CONTEXT_UCONTEXT.
#if defined(COFCGI_CONTEXT_UCONTEXT)

#include <ucontext.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "arch/context.h"

namespace {

struct StartRecord {
  ucontext_t uc;
  co::detail::ContextEntry entry;
  void* arg;
};

// glibc's makecontext uses only ss_sp + ss_size (the initial stack pointer) and never looks
// at the rest; make_context is not told the stack's real size, so uc_stack claims this
// nominal window just below the record. (Tools that do read ss_size, such as ASan's
// swapcontext interceptor, then see a smaller stack than the real one, which is harmless.)
constexpr std::size_t kUcStackClaim = 4096;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "cofcgi: ucontext context switch: %s failed\n", what);
  std::abort();
}

// makecontext passes only int arguments, so the record's address comes in two halves.
void start_trampoline(unsigned int hi, unsigned int lo) {
  const std::uintptr_t bits =
      (static_cast<std::uintptr_t>(hi) << 16 << 16) | static_cast<std::uintptr_t>(lo);
  auto* rec = reinterpret_cast<StartRecord*>(bits);
  rec->entry(rec->arg);
  cofcgi_context_entry_returned();
}

}  // namespace

extern "C" void cofcgi_switch_context(void** save_sp, void* resume_sp) {
  ucontext_t self;
  *save_sp = &self;
  if (swapcontext(&self, static_cast<ucontext_t*>(resume_sp)) != 0) fail("swapcontext");
}

// Never used by this fallback (make_context does not lay out an asm first frame); defined
// so that references to the symbol link, and trapping if something jumps to it anyway.
extern "C" void cofcgi_context_start() { cofcgi_context_entry_returned(); }

namespace co::detail {

void* make_context(void* stack_top, ContextEntry entry, void* arg) {
  constexpr std::uintptr_t kAlign = alignof(StartRecord) > 16 ? alignof(StartRecord) : 16;
  const std::uintptr_t top = reinterpret_cast<std::uintptr_t>(stack_top);
  auto* rec = reinterpret_cast<StartRecord*>((top - sizeof(StartRecord)) & ~(kAlign - 1));
  if (getcontext(&rec->uc) != 0) fail("getcontext");
  rec->entry = entry;
  rec->arg = arg;
  rec->uc.uc_link = nullptr;  // start_trampoline never returns
  rec->uc.uc_stack.ss_sp = reinterpret_cast<char*>(rec) - kUcStackClaim;
  rec->uc.uc_stack.ss_size = kUcStackClaim;
  rec->uc.uc_stack.ss_flags = 0;
  const auto bits = reinterpret_cast<std::uintptr_t>(rec);
  makecontext(&rec->uc, reinterpret_cast<void (*)()>(&start_trampoline), 2,
              static_cast<unsigned int>(bits >> 16 >> 16), static_cast<unsigned int>(bits));
  return &rec->uc;
}

}  // namespace co::detail

#endif  // COFCGI_CONTEXT_UCONTEXT
