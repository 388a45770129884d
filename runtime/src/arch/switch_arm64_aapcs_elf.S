/*
 * Context switch for aarch64, AAPCS64, ELF.
 *
 * Saved (callee-saved per AAPCS64): x19-x28 and x29 (fp) (§6.1.1 "General-purpose
 * registers": a subroutine must preserve x19-x29 and sp); x30 (lr), which is not
 * callee-saved but is our own return address; d8-d15, i.e. the low 64 bits of v8-v15
 * (§6.1.2 "SIMD and floating-point registers": only the bottom 64 bits of v8-v15 must be
 * preserved); and the FPCR, whose mode fields (RMode, FZ, FZ16, DN, AHP) are also to be
 * preserved across calls by every function not documented to change them (§6.1.2). A
 * coroutine that changes its rounding mode must not leak it into another. Restoring FPCR is
 * skipped when the value is already in place: an msr to FPCR can be a serializing, slow
 * write on some cores, while the mrs to compare is cheap.
 *
 * Not saved, deliberately: the caller-saved registers x0-x17, v0-v7, v16-v31 and the top
 * 64 bits of v8-v15 (the caller of a function already assumes they are clobbered); x18,
 * the platform register (a plain temporary on Linux; a shadow-call-stack pointer would need
 * per-coroutine handling); the FPSR (cumulative status flags, not control state); SVE
 * Z/P/FFR state beyond the d8-d15 bits and SME ZA/streaming state (this is an ordinary call
 * under the base PCS, so callers already have none of that live); TPIDR_EL0 (TLS: coroutines
 * never migrate between threads); the signal mask (a syscall, what makes swapcontext slow,
 * and coroutines share their thread's mask).
 *
 * Protocol (context_layout.h): a suspended context is its stack pointer; the slot it points
 * to holds the resume address. Resuming = load sp, pop, branch (br rather than ret keeps the
 * return-address predictor in step with real calls).
 *
 * Stack alignment: AAPCS64 requires sp to be 16-byte aligned whenever it is used to access
 * memory (and the hardware may check it), not only at calls. So nothing here ever moves sp
 * by a non-multiple of 16: the register block is 176 bytes and the resume address occupies
 * a 16-byte slot, popped with `ldr x9, [sp], #16`. A fresh coroutine's first frame is
 * [cofcgi_context_start, 0][entry, arg] (32 bytes below a 16-byte aligned stack top), so
 * cofcgi_context_start pops [entry, arg] and calls entry with sp at the aligned stack top.
 *
 * BTI: both indirect-branch targets (.Lresume and cofcgi_context_start, reached by `br x9`)
 * start with `hint #36` (bti j) and the functions with `hint #34` (bti c); these are NOPs
 * on cores without BTI and keep the code valid if the objects are ever marked BTI-guarded.
 */
#include "context_layout.h"

#if COFCGI_RESUME_SLOT_SIZE != 16 || COFCGI_FIRST_FRAME_ENTRY != 16 || COFCGI_FIRST_FRAME_ARG != 24
#error "switch_arm64_aapcs_elf.S expects the aarch64 first frame [start, 0][entry, arg]"
#endif

    .text

/* void cofcgi_switch_context(void** save_sp [x0], void* resume_sp [x1])
 *
 * Frame, from the saved sp upwards:
 *   +0    resume address (.Lresume), +8 unused          <- *save_sp points here
 *   +16   x19 x20 | x21 x22 | x23 x24 | x25 x26 | x27 x28 | x29 x30
 *   +112  d8 d9 | d10 d11 | d12 d13 | d14 d15
 *   +176  fpcr, unused
 * Offsets below are relative to the register block (the frame + 16). */
    .globl  cofcgi_switch_context
    .hidden cofcgi_switch_context
    .type   cofcgi_switch_context, %function
    .p2align 4
cofcgi_switch_context:
    .cfi_startproc
    hint    #34                     /* bti c */
    sub     sp, sp, #176
    .cfi_def_cfa_offset 176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mrs     x9, fpcr
    str     x9, [sp, #160]
    adr     x9, .Lresume
    str     x9, [sp, #-16]!         /* push the resume slot */
    .cfi_def_cfa_offset 192
    mov     x10, sp
    str     x10, [x0]               /* *save_sp = sp */
    mov     sp, x1                  /* switch stacks ... */
    ldr     x9, [sp], #16           /* ... pop the other side's resume address */
    .cfi_def_cfa_offset 176         /* true again at .Lresume: sp = our register block */
    br      x9
.Lresume:
    hint    #36                     /* bti j */
    ldr     x9, [sp, #160]
    mrs     x10, fpcr
    cmp     x9, x10
    b.eq    1f
    msr     fpcr, x9
1:
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #176
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    ret
    .cfi_endproc
    .size   cofcgi_switch_context, .-cofcgi_switch_context

/* First code a coroutine runs: reached by the resume protocol with sp at the first frame's
 * [entry, arg] slot. Calls entry(arg) with a terminated frame chain (x29 = 0, x30 = 0,
 * lr marked undefined for unwinders); entry must never return (it switches away for the
 * last time), so a return reports through cofcgi_context_entry_returned (noreturn). */
    .globl  cofcgi_context_start
    .hidden cofcgi_context_start
    .type   cofcgi_context_start, %function
    .p2align 4
cofcgi_context_start:
    .cfi_startproc
    .cfi_undefined x30
    hint    #36                     /* bti j */
    ldp     x9, x0, [sp], #16       /* x9 = entry, x0 = arg; sp = the aligned stack top */
    mov     x29, xzr
    mov     x30, xzr
    blr     x9
    bl      cofcgi_context_entry_returned
    brk     #0x3e8
    .cfi_endproc
    .size   cofcgi_context_start, .-cofcgi_context_start

/* When built with -mbranch-protection, mark the object as BTI/PAC compatible (as the
 * compiler does for C++ objects); otherwise linking this file would silently turn BTI off
 * for the whole binary. BTI: the landing pads above. PAC: nothing here signs or
 * authenticates lr; cofcgi_switch_context returns to the lr it was called with. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
#if defined(__ARM_FEATURE_BTI_DEFAULT)
#define COFCGI_PROP_BTI 1
#else
#define COFCGI_PROP_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT)
#define COFCGI_PROP_PAC 2
#else
#define COFCGI_PROP_PAC 0
#endif
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .word   4                       /* name size */
    .word   16                      /* descriptor size */
    .word   5                       /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .word   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .word   4
    .word   COFCGI_PROP_BTI | COFCGI_PROP_PAC
    .word   0
    .popsection
#endif

    .section .note.GNU-stack,"",%progbits
