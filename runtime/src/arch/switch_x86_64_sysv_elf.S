/*
 * Context switch for x86-64, System V ABI, ELF.
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
 * Protocol (context_layout.h): a suspended context is its stack pointer; the word it points
 * to is the resume address. Resuming = load rsp, pop, jump (pop+jmp rather than ret keeps
 * the return-stack predictor in step with real calls).
 *
 * Stack alignment: cofcgi_context_start realigns rsp to 16 bytes before it calls the entry
 * function, as §3.2.2 requires at every call.
 */
#include "context_layout.h"

    .text

/* void cofcgi_switch_context(void** save_sp [rdi], void* resume_sp [rsi]) */
    .globl  cofcgi_switch_context
    .hidden cofcgi_switch_context
    .type   cofcgi_switch_context, @function
    .p2align 4
cofcgi_switch_context:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, %rdx          /* our FP control words, for the side we resume */
    leaq    .Lresume(%rip), %rax
    pushq   %rax
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    popq    %rcx
    jmpq    *%rcx
.Lresume:
    /* rdx: the resumer's saved MXCSR and x87 CW, i.e. the live ones (context_layout.h).
     * Reload ours only when they differ: ldmxcsr and fldcw cost ~7 ns each here, and
     * coroutines almost never change them. Each compare reads exactly what one store
     * wrote, so store forwarding works. */
    movl    (%rdx), %eax
    cmpl    %eax, (%rsp)
    je      1f
    ldmxcsr (%rsp)
1:
    movzwl  4(%rdx), %eax
    cmpw    %ax, 4(%rsp)
    je      2f
    fldcw   4(%rsp)
2:
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    /* Back to our caller with pop+jmp, not ret: this return address belongs to the call
     * made on *this* stack before it was suspended, while the return-stack predictor holds
     * the other context's call, so a ret would be mispredicted on every switch (measured:
     * 22 ns per switch with ret, 8 ns with pop+jmp; bench/README.md). The indirect-branch
     * predictor learns the alternating targets. Boost's jump_fcontext returns the same way. */
    popq    %rcx
    jmpq    *%rcx
    .cfi_endproc
    .size   cofcgi_switch_context, .-cofcgi_switch_context

/* First code a coroutine runs: reached by the resume protocol with rsp at the first
 * frame's entry slot. Calls entry(arg); entry must never return (it switches away for the
 * last time), so a return lands on the trap. */
    .globl  cofcgi_context_start
    .hidden cofcgi_context_start
    .type   cofcgi_context_start, @function
    .p2align 4
cofcgi_context_start:
    .cfi_startproc
    .cfi_undefined rip
    popq    %rax
    popq    %rdi
    andq    $-16, %rsp
    xorl    %ebp, %ebp
    callq   *%rax
    callq   cofcgi_context_entry_returned
    ud2
    .cfi_endproc
    .size   cofcgi_context_start, .-cofcgi_context_start

    .section .note.GNU-stack,"",@progbits
