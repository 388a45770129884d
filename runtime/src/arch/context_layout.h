// Layout of a suspended context, shared by the assembly switch routines and the C++ that
// builds a coroutine's first frame. Included from .S files, so preprocessor only.
//
// The one protocol every switch routine (the .S files and the inline fast path in
// context.h) follows: a suspended context is a single stack pointer SP. The word at SP is
// the address where execution resumes; the resumer sets the stack pointer to SP, pops that
// word and jumps to it. Everything else a suspended side needs (callee-saved registers, FP
// control state) it saved on its own stack, above SP, and restores itself after the jump.
// Because the protocol is only "pop and jump", contexts suspended by different switch
// routines can resume each other.
// x86-64 adds one register to the jump: rdx points at the resumer's own saved FP control
// words (MXCSR, 4 bytes, then the x87 control word, 2 bytes), which are the live ones at
// that moment; the resumed side reloads its saved words only if they differ (ldmxcsr and
// fldcw are slow). Every x86-64 switch routine (the .S and context.h's inline switch) sets
// rdx so before jumping; cofcgi_context_start, the first code of a fresh context, ignores it.
//
// A fresh coroutine's first frame, built by make_context() (context.h):
//   SP + 0                         address of cofcgi_context_start (arch .S)
//   SP + COFCGI_FIRST_FRAME_ENTRY  entry function, void (*)(void*)
//   SP + COFCGI_FIRST_FRAME_ARG    its argument
//   SP + COFCGI_FIRST_FRAME_PAD    zero (pad; keeps the frame a multiple of 16 bytes)
// x86-64:  [start][entry][arg][0]  - the resume address is one 8-byte word.
// aarch64: [start, 0][entry, arg]  - sp must stay 16-byte aligned whenever it is used to
//          access memory (AAPCS64 "universal stack constraints"), so the resume address
//          sits in a 16-byte slot (COFCGI_RESUME_SLOT_SIZE) popped by `ldr x9, [sp], #16`.
#pragma once

#define COFCGI_FIRST_FRAME_SIZE 32
#if defined(__aarch64__)
#define COFCGI_RESUME_SLOT_SIZE 16
#define COFCGI_FIRST_FRAME_ENTRY 16
#define COFCGI_FIRST_FRAME_ARG 24
#define COFCGI_FIRST_FRAME_PAD 8
#else
#define COFCGI_RESUME_SLOT_SIZE 8
#define COFCGI_FIRST_FRAME_ENTRY 8
#define COFCGI_FIRST_FRAME_ARG 16
#define COFCGI_FIRST_FRAME_PAD 24
#endif
