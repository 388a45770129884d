// Layout of a suspended context, shared by the assembly switch routines and the C++ that
// builds a coroutine's first frame (context.h, which checks these offsets against a struct
// with static_assert(offsetof(...))). Included from .S files, so preprocessor only.
//
// Every context is suspended by the one switch routine of its ABI (cofcgi_switch_context in
// switch_<arch>.S) or is a fresh frame built by make_context(), which mimics it. A suspended
// context is a single stack pointer SP.
//
// x86-64 (switch_x86_64_sysv_elf.S): SP points at a 64-byte frame, the same one Boost's
// jump_fcontext uses in spirit:
//   SP + COFCGI_X86_MXCSR   MXCSR (4 bytes)      SP + COFCGI_X86_X87_CW   x87 CW (2 bytes)
//   SP + COFCGI_X86_R12 .. COFCGI_X86_RBP        r12 r13 r14 r15 rbx rbp (8 bytes each)
//   SP + COFCGI_X86_RESUME  where execution resumes (the switch's return address)
// The resumer restores all of it and jumps to the resume address: one indirect jump per
// switch. A fresh frame holds the creator's MXCSR/x87 CW (as Boost's make_fcontext and
// getcontext do), r12 = entry, r13 = arg, rbp = 0 and resume = cofcgi_context_start, so
// that cofcgi_context_start runs with rsp = the 16-byte aligned stack top.
//
// aarch64 (switch_arm64_aapcs_elf.S): the word at SP is the address where execution
// resumes; the resumer pops it (a 16-byte slot, COFCGI_RESUME_SLOT_SIZE: sp must stay
// 16-byte aligned whenever it is used to access memory, AAPCS64 "universal stack
// constraints") and jumps to it; the resumed side restores its own registers. A fresh
// frame is [cofcgi_context_start, 0][entry, arg], 32 bytes below the stack top.
#pragma once

#if defined(__aarch64__)
#define COFCGI_FIRST_FRAME_SIZE 32
#define COFCGI_RESUME_SLOT_SIZE 16
#define COFCGI_FIRST_FRAME_ENTRY 16
#define COFCGI_FIRST_FRAME_ARG 24
#define COFCGI_FIRST_FRAME_PAD 8
#else
#define COFCGI_X86_MXCSR 0
#define COFCGI_X86_X87_CW 4
#define COFCGI_X86_R12 8
#define COFCGI_X86_R13 16
#define COFCGI_X86_R14 24
#define COFCGI_X86_R15 32
#define COFCGI_X86_RBX 40
#define COFCGI_X86_RBP 48
#define COFCGI_X86_RESUME 56
#define COFCGI_X86_FRAME_SIZE 64
#endif
