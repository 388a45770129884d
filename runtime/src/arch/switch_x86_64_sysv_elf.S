/*
 * Context switch for x86-64, System V ABI, ELF. The only x86-64 switch: the scheduler, the
 * libco API and the tests all call cofcgi_switch_context.
 *
 * Saved (callee-saved per the SysV ABI §3.2.1): rbx, rbp, r12-r15, plus the FP control state
 * that the ABI also makes callee-saved: the MXCSR control bits and the x87 control word
 * (§3.2.1 "The control bits of the MXCSR register are callee-saved ... the x87 CW too").
 * A coroutine that changes its rounding mode must not leak it into another.
 *
 * Not saved, deliberately: caller-saved registers (rax, rcx, rdx, rsi, rdi, r8-r11,
 * xmm0-15, the MXCSR status flags) - the caller of a function already assumes they are
 * clobbered; the signal mask (a syscall, what makes swapcontext ~40x slower, and coroutines
 * share their thread's mask); the fs base (TLS) - coroutines never migrate between threads.
 *
 * Frame and protocol (context_layout.h): the suspended side stores its registers in a 64-byte
 * frame under its return address and publishes rsp; the resumer restores the other frame
 * and jumps to its return address. One indirect jump per switch and no `ret`: after a stack
 * switch the return-stack predictor holds the other context's call, so a ret would be
 * mispredicted on every switch (measured: 22 ns per switch with ret, 8 ns with jmp; Boost's
 * jump_fcontext returns the same way).
 *
 * FP control words are reloaded unconditionally, as jump_fcontext does. Reloading only when
 * they differ needs a load of the just-stored stmxcsr result, which does not store-forward
 * on AMD Zen: 1.18x jump_fcontext with the compare, 0.92x without (bench/micro/switch_bench).
 * The save is the expensive part (stmxcsr ~1.4 ns); ldmxcsr from an old frame is cheap.
 *
 * Stack alignment: the call into cofcgi_switch_context left rsp = 8 mod 16, so the frame
 * (rsp - 56) is 16-byte aligned; a fresh frame sits 64 bytes under a 16-byte aligned stack
 * top, so cofcgi_context_start runs with rsp aligned and its call obeys §3.2.2.
 */
#include "context_layout.h"

#if COFCGI_X86_MXCSR != 0 || COFCGI_X86_X87_CW != 4 || COFCGI_X86_R12 != 8 || \
    COFCGI_X86_RBP != 48 || COFCGI_X86_RESUME != 56 || COFCGI_X86_FRAME_SIZE != 64
#error "switch_x86_64_sysv_elf.S expects the 64-byte frame of context_layout.h"
#endif
#if COFCGI_X86_R13 != COFCGI_X86_R12 + 8 || COFCGI_X86_R14 != COFCGI_X86_R13 + 8 || \
    COFCGI_X86_R15 != COFCGI_X86_R14 + 8 || COFCGI_X86_RBX != COFCGI_X86_R15 + 8 || \
    COFCGI_X86_RBP != COFCGI_X86_RBX + 8
#error "switch_x86_64_sysv_elf.S expects r12 r13 r14 r15 rbx rbp in consecutive words"
#endif

    .text

/* void cofcgi_switch_context(void** save_sp [rdi], void* resume_sp [rsi]) */
    .globl  cofcgi_switch_context
    .hidden cofcgi_switch_context
    .type   cofcgi_switch_context, @function
    .p2align 4
cofcgi_switch_context:
    .cfi_startproc
    leaq    -COFCGI_X86_RESUME(%rsp), %rsp
    .cfi_adjust_cfa_offset COFCGI_X86_RESUME
    stmxcsr COFCGI_X86_MXCSR(%rsp)
    fnstcw  COFCGI_X86_X87_CW(%rsp)
    movq    %r12, COFCGI_X86_R12(%rsp)
    movq    %r13, COFCGI_X86_R13(%rsp)
    movq    %r14, COFCGI_X86_R14(%rsp)
    movq    %r15, COFCGI_X86_R15(%rsp)
    movq    %rbx, COFCGI_X86_RBX(%rsp)
    movq    %rbp, COFCGI_X86_RBP(%rsp)
    .cfi_rel_offset r12, COFCGI_X86_R12
    .cfi_rel_offset r13, COFCGI_X86_R13
    .cfi_rel_offset r14, COFCGI_X86_R14
    .cfi_rel_offset r15, COFCGI_X86_R15
    .cfi_rel_offset rbx, COFCGI_X86_RBX
    .cfi_rel_offset rbp, COFCGI_X86_RBP
    movq    %rsp, (%rdi)
    /* The other context's frame has the same layout, so the CFI above stays true. */
    movq    %rsi, %rsp
    ldmxcsr COFCGI_X86_MXCSR(%rsp)
    fldcw   COFCGI_X86_X87_CW(%rsp)
    movq    COFCGI_X86_R12(%rsp), %r12
    movq    COFCGI_X86_R13(%rsp), %r13
    movq    COFCGI_X86_R14(%rsp), %r14
    movq    COFCGI_X86_R15(%rsp), %r15
    movq    COFCGI_X86_RBX(%rsp), %rbx
    movq    COFCGI_X86_RBP(%rsp), %rbp
    movq    COFCGI_X86_RESUME(%rsp), %rcx
    leaq    COFCGI_X86_FRAME_SIZE(%rsp), %rsp
    .cfi_adjust_cfa_offset -COFCGI_X86_FRAME_SIZE
    jmpq    *%rcx
    .cfi_endproc
    .size   cofcgi_switch_context, .-cofcgi_switch_context

/* First code a coroutine runs: reached through a fresh frame (context.h, make_context) with
 * r12 = entry, r13 = arg, rbp = 0 and rsp = the 16-byte aligned stack top. Calls entry(arg);
 * entry must never return (it switches away for the last time), so a return lands on the
 * trap. */
    .globl  cofcgi_context_start
    .hidden cofcgi_context_start
    .type   cofcgi_context_start, @function
    .p2align 4
cofcgi_context_start:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r13, %rdi
    callq   *%r12
    callq   cofcgi_context_entry_returned
    ud2
    .cfi_endproc
    .size   cofcgi_context_start, .-cofcgi_context_start

    .section .note.GNU-stack,"",@progbits
