// Self-contained check of the machine-level context switch (runtime/src/arch): no doctest,
// no runtime library, just context.h and one switch implementation. Built and run by
// scripts/check-aarch64 in three configurations:
//   x86-64 + switch_x86_64_sysv_elf.S
//   x86-64 + switch_ucontext.cpp (-DCOFCGI_CONTEXT_UCONTEXT)
//   aarch64 + switch_arm64_aapcs_elf.S, under qemu-aarch64
// main returns 0 if every check passed, 1 otherwise.
//
// What it checks:
//  - make_context + 1000 ping-pong rounds between main and a coroutine on an mmap'd stack,
//    passing a counter both ways; the coroutine ends by switching back for the last time;
//  - callee-saved registers survive a switch, two ways: an asm probe loads a tagged
//    pattern into every callee-saved register (rbx rbp r12-r15 / x19-x29 d8-d15), switches
//    and reads them back; and both sides keep many integer and double variables live
//    across the switches, then compare with a switch-free recomputation;
//  - FP control state is per context: the coroutine runs FE_UPWARD while main runs
//    FE_TONEAREST, then main changes to FE_DOWNWARD and the coroutine to FE_TOWARDZERO;
//    each side checks fegetround(), the raw control registers (x87 CW and MXCSR / FPCR)
//    and actual rounding (nearbyint) after every switch;
//  - the coroutine's entry runs with a 16-byte aligned stack, inside the mmap'd stack,
//    and (asm switches) with a terminated frame-pointer chain.
// The switches alternate between the probe, cofcgi_switch_context and
// co::detail::switch_context (the scheduler's entry point, which calls the same routine), so
// contexts suspended through one path are resumed through another.
#include <sys/mman.h>
#include <unistd.h>

#include <cfenv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

#include "arch/context.h"

extern "C" void cofcgi_context_entry_returned() {
  std::fprintf(stderr, "FAIL: a coroutine's entry function returned\n");
  std::abort();
}

// ---------------------------------------------------------------------------------------
// Register probe: void cofcgi_test_probe_switch(void** save_sp, void* resume_sp,
//                                              uint64_t tag, uint64_t* out)
// Saves the caller's callee-saved registers (it is a normal function), sets callee-saved
// register k to tag + k + 1, calls cofcgi_switch_context(save_sp, resume_sp), and once
// resumed stores the callee-saved registers into out[0..kProbeRegs-1].
extern "C" void cofcgi_test_probe_switch(void** save_sp, void* resume_sp, std::uint64_t tag,
                                         std::uint64_t* out);

#if defined(__x86_64__)
constexpr int kProbeRegs = 6;
static const char* const kProbeNames[kProbeRegs] = {"rbx", "rbp", "r12", "r13", "r14", "r15"};
asm(R"(
    .pushsection .text
    .globl  cofcgi_test_probe_switch
    .type   cofcgi_test_probe_switch, @function
    .p2align 4
cofcgi_test_probe_switch:
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    pushq   %rcx
    leaq    1(%rdx), %rbx
    leaq    2(%rdx), %rbp
    leaq    3(%rdx), %r12
    leaq    4(%rdx), %r13
    leaq    5(%rdx), %r14
    leaq    6(%rdx), %r15
    call    cofcgi_switch_context@PLT
    popq    %rcx
    movq    %rbx, 0(%rcx)
    movq    %rbp, 8(%rcx)
    movq    %r12, 16(%rcx)
    movq    %r13, 24(%rcx)
    movq    %r14, 32(%rcx)
    movq    %r15, 40(%rcx)
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .size   cofcgi_test_probe_switch, .-cofcgi_test_probe_switch
    .popsection
)");
#elif defined(__aarch64__)
constexpr int kProbeRegs = 19;
static const char* const kProbeNames[kProbeRegs] = {"x19", "x20", "x21", "x22", "x23", "x24", "x25",
                                                    "x26", "x27", "x28", "x29", "d8",  "d9",  "d10",
                                                    "d11", "d12", "d13", "d14", "d15"};
asm(R"(
    .pushsection .text
    .globl  cofcgi_test_probe_switch
    .type   cofcgi_test_probe_switch, %function
    .p2align 4
cofcgi_test_probe_switch:
    stp     x29, x30, [sp, #-176]!
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    str     x3, [sp, #160]
    add     x19, x2, #1
    add     x20, x2, #2
    add     x21, x2, #3
    add     x22, x2, #4
    add     x23, x2, #5
    add     x24, x2, #6
    add     x25, x2, #7
    add     x26, x2, #8
    add     x27, x2, #9
    add     x28, x2, #10
    add     x29, x2, #11
    add     x9, x2, #12
    fmov    d8, x9
    add     x9, x2, #13
    fmov    d9, x9
    add     x9, x2, #14
    fmov    d10, x9
    add     x9, x2, #15
    fmov    d11, x9
    add     x9, x2, #16
    fmov    d12, x9
    add     x9, x2, #17
    fmov    d13, x9
    add     x9, x2, #18
    fmov    d14, x9
    add     x9, x2, #19
    fmov    d15, x9
    bl      cofcgi_switch_context
    ldr     x3, [sp, #160]
    stp     x19, x20, [x3, #0]
    stp     x21, x22, [x3, #16]
    stp     x23, x24, [x3, #32]
    stp     x25, x26, [x3, #48]
    stp     x27, x28, [x3, #64]
    str     x29, [x3, #80]
    stp     d8, d9, [x3, #88]
    stp     d10, d11, [x3, #104]
    stp     d12, d13, [x3, #120]
    stp     d14, d15, [x3, #136]
    ldp     d14, d15, [sp, #144]
    ldp     d12, d13, [sp, #128]
    ldp     d10, d11, [sp, #112]
    ldp     d8, d9, [sp, #96]
    ldp     x27, x28, [sp, #80]
    ldp     x25, x26, [sp, #64]
    ldp     x23, x24, [sp, #48]
    ldp     x21, x22, [sp, #32]
    ldp     x19, x20, [sp, #16]
    ldp     x29, x30, [sp], #176
    ret
    .size   cofcgi_test_probe_switch, .-cofcgi_test_probe_switch
    .popsection
)");
#else
#error "arch_switch_check.cpp: no register probe for this architecture"
#endif

namespace {

constexpr int kRounds = 1000;
constexpr std::size_t kStackSize = 256 * 1024;

int g_failures = 0;

void fail(const char* side, int round, const char* what) {
  if (++g_failures <= 20) std::printf("  FAIL [%s, round %d] %s\n", side, round, what);
}

// ---- FP control state ------------------------------------------------------------------

const char* mode_name(int mode) {
  switch (mode) {
    case FE_TONEAREST: return "FE_TONEAREST";
    case FE_UPWARD: return "FE_UPWARD";
    case FE_DOWNWARD: return "FE_DOWNWARD";
    case FE_TOWARDZERO: return "FE_TOWARDZERO";
  }
  return "?";
}

// Raw rounding-control bits, checked against what fesetround(mode) writes.
#if defined(__x86_64__)
bool raw_mode_matches(int mode) {
  std::uint16_t cw = 0;
  std::uint32_t mxcsr = 0;
  asm volatile("fnstcw %0" : "=m"(cw));
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  // glibc's x86 FE_* values are the x87 CW RC bits (10-11); MXCSR RC is bits 13-14.
  return (cw & 0xc00) == mode && (mxcsr & 0x6000) == (static_cast<std::uint32_t>(mode) << 3);
}
#elif defined(__aarch64__)
bool raw_mode_matches(int mode) {
  std::uint64_t fpcr = 0;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  // glibc's aarch64 FE_* values are the FPCR RMode bits (22-23).
  return (fpcr & 0xc00000) == static_cast<std::uint64_t>(mode);
}
#endif

// nearbyint of 2.5, -2.5 and 1.5 tells the four rounding modes apart.
volatile double g_in_a = 2.5, g_in_b = -2.5, g_in_c = 1.5;
int rounding_signature() {
  const double a = std::nearbyint(g_in_a), b = std::nearbyint(g_in_b), c = std::nearbyint(g_in_c);
  return static_cast<int>(a) * 100 + static_cast<int>(-b) * 10 + static_cast<int>(c);
}
int expected_signature(int mode) {
  switch (mode) {
    case FE_TONEAREST: return 222;
    case FE_UPWARD: return 322;
    case FE_DOWNWARD: return 231;
    case FE_TOWARDZERO: return 221;
  }
  return -1;
}

void check_fp_mode(const char* side, int round, int mode) {
  if (std::fegetround() != mode) fail(side, round, "fegetround() differs from this side's mode");
  if (!raw_mode_matches(mode))
    fail(side, round, "raw FP control register has the wrong rounding bits");
  if (rounding_signature() != expected_signature(mode))
    fail(side, round, "arithmetic does not round in this side's mode");
}

// ---- live variables --------------------------------------------------------------------

// Many integers and doubles updated every round and live across each switch. The double
// updates add small integers, which is exact in every rounding mode.
#define LIVE_DECL(seed)                                                                         \
  std::uint64_t a0 = (seed), a1 = (seed)*3 + 1, a2 = (seed) ^ 0x5555, a3 = 7, a4 = 11, a5 = 13, \
                a6 = 17, a7 = 19, a8 = 23, a9 = 29;                                             \
  double f0 = 1.0, f1 = 2.0, f2 = 3.0, f3 = 4.0, f4 = 5.0, f5 = 6.0
#define LIVE_STEP(r)                                           \
  do {                                                         \
    a0 = a0 * 6364136223846793005ull + 1442695040888963407ull; \
    a1 ^= a0 >> 13;                                            \
    a2 += a1 * 3 + (r);                                        \
    a3 = (a3 << 7 | a3 >> 57) ^ a2;                            \
    a4 += a3 ^ a9;                                             \
    a5 ^= a4 * 0x9e3779b97f4a7c15ull;                          \
    a6 += a5 >> 3;                                             \
    a7 ^= a6 + a0;                                             \
    a8 += a7 | 1;                                              \
    a9 = a9 * 5 + a8;                                          \
    f0 += static_cast<double>(a0 & 0xff);                      \
    f1 += static_cast<double>(a3 & 0x7f);                      \
    f2 += static_cast<double>(a5 & 0x3f);                      \
    f3 += static_cast<double>(a7 & 0x1f);                      \
    f4 += static_cast<double>(a9 & 0xf);                       \
    f5 += static_cast<double>(a2 & 0xf) + 1.0;                 \
  } while (0)
#define LIVE_DIGEST()                                                                 \
  (a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ a8 ^ a9 ^ static_cast<std::uint64_t>(f0) ^ \
   static_cast<std::uint64_t>(f1) << 8 ^ static_cast<std::uint64_t>(f2) << 16 ^       \
   static_cast<std::uint64_t>(f3) << 24 ^ static_cast<std::uint64_t>(f4) << 32 ^      \
   static_cast<std::uint64_t>(f5) << 40)

__attribute__((noinline)) std::uint64_t live_reference(std::uint64_t seed, int rounds) {
  LIVE_DECL(seed);
  for (int r = 0; r < rounds; ++r) LIVE_STEP(r);
  return LIVE_DIGEST();
}

// ---- the ping-pong ---------------------------------------------------------------------

struct Shared {
  void* main_sp = nullptr;
  void* co_sp = nullptr;
  long counter = -1;
  bool started = false;
  bool done = false;
  std::uint64_t co_digest = 0;
  char* stack_lo = nullptr;
  char* stack_hi = nullptr;
};

constexpr std::uint64_t kMainSeed = 0x1234, kCoSeed = 0xabcdef;

void check_probe(const char* side, int round, const std::uint64_t* out, std::uint64_t tag) {
  for (int k = 0; k < kProbeRegs; ++k) {
    if (out[k] != tag + static_cast<std::uint64_t>(k) + 1) {
      char msg[96];
      std::snprintf(msg, sizeof msg, "callee-saved %s not preserved by the switch", kProbeNames[k]);
      fail(side, round, msg);
    }
  }
}

// One switch from `side`, by one of three routes chosen by `method`.
#define SWITCH_BY(method, side, round, save, resume, tag_base)                            \
  do {                                                                                    \
    switch ((method) % 3) {                                                               \
      case 0: {                                                                           \
        std::uint64_t out_[kProbeRegs] = {};                                              \
        const std::uint64_t tag_ = (tag_base) + (static_cast<std::uint64_t>(round) << 8); \
        cofcgi_test_probe_switch((save), (resume), tag_, out_);                           \
        check_probe((side), (round), out_, tag_);                                         \
        break;                                                                            \
      }                                                                                   \
      case 1: cofcgi_switch_context((save), (resume)); break;                             \
      default: co::detail::switch_context((save), (resume)); break;                       \
    }                                                                                     \
  } while (0)

void coroutine_entry(void* p) {
  auto* s = static_cast<Shared*>(p);
  s->started = true;

  alignas(16) char local[16] = {};
  const auto local_addr = reinterpret_cast<std::uintptr_t>(local);
  const auto frame_addr = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  if (local_addr % 16 != 0) fail("coroutine", 0, "alignas(16) local is not 16-byte aligned");
  if (frame_addr % 16 != 0) fail("coroutine", 0, "frame address is not 16-byte aligned");
  if (local < s->stack_lo || local >= s->stack_hi)
    fail("coroutine", 0, "entry does not run on the coroutine's stack");
#if !defined(COFCGI_CONTEXT_UCONTEXT)
  // cofcgi_context_start zeroes the frame pointer: the chain must end at entry's frame.
  if (*static_cast<void* const*>(__builtin_frame_address(0)) != nullptr)
    fail("coroutine", 0, "frame-pointer chain is not terminated at the entry frame");
#endif
  // Something that needs an aligned stack for real (SSE/NEON spills inside printf).
  char buf[64];
  std::snprintf(buf, sizeof buf, "%f %s", 3.25, local);

  int mode = FE_UPWARD;
  std::fesetround(mode);
  LIVE_DECL(kCoSeed);
  for (int r = 0; r < kRounds; ++r) {
    if (r == kRounds / 2) {
      // Main has switched to FE_DOWNWARD meanwhile; ours must still be FE_UPWARD.
      check_fp_mode("coroutine", r, mode);
      mode = FE_TOWARDZERO;
      std::fesetround(mode);
    }
    if (s->counter != 2L * r) fail("coroutine", r, "counter from main is wrong");
    s->counter = 2L * r + 1;
    LIVE_STEP(r);
    SWITCH_BY(r + 1, "coroutine", r, &s->co_sp, s->main_sp, 0xc0c0000000000000ull);
    check_fp_mode("coroutine", r, mode);
  }
  s->co_digest = LIVE_DIGEST();
  s->done = true;
  cofcgi_switch_context(&s->co_sp, s->main_sp);  // the last switch: never resumed
  fail("coroutine", kRounds, "resumed after its last switch");
}

}  // namespace

int main() {
#if defined(COFCGI_CONTEXT_UCONTEXT)
  const char* impl = "ucontext fallback";
#elif defined(__aarch64__)
  const char* impl = "switch_arm64_aapcs_elf.S";
#else
  const char* impl = "switch_x86_64_sysv_elf.S";
#endif
#if defined(__aarch64__)
  const char* arch = "aarch64";
#else
  const char* arch = "x86-64";
#endif
  std::printf("arch_switch_check: %s, %s\n", arch, impl);

  // Sanity of the rounding checks themselves, before any switch.
  for (int mode : {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
    std::fesetround(mode);
    if (!raw_mode_matches(mode) || rounding_signature() != expected_signature(mode)) {
      std::printf("  FAIL: rounding checks do not work for %s (signature %d)\n", mode_name(mode),
                  rounding_signature());
      ++g_failures;
    }
  }
  int mode = FE_TONEAREST;
  std::fesetround(mode);

  const long page = sysconf(_SC_PAGESIZE);
  void* mem = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  if (mprotect(mem, static_cast<std::size_t>(page), PROT_NONE) != 0) {  // guard page
    std::perror("mprotect");
    return 1;
  }

  Shared s;
  s.stack_lo = static_cast<char*>(mem);
  s.stack_hi = s.stack_lo + kStackSize;
  s.co_sp = co::detail::make_context(s.stack_hi, &coroutine_entry, &s);

  LIVE_DECL(kMainSeed);
  for (int r = 0; r < kRounds; ++r) {
    if (r == kRounds / 2) {
      mode = FE_DOWNWARD;
      std::fesetround(mode);
    }
    s.counter = 2L * r;
    LIVE_STEP(r);
    SWITCH_BY(r, "main", r, &s.main_sp, s.co_sp, 0x3a10000000000000ull);
    check_fp_mode("main", r, mode);
    if (!s.started) fail("main", r, "the coroutine did not run");
    if (s.counter != 2L * r + 1) fail("main", r, "counter from the coroutine is wrong");
    if (s.done) fail("main", r, "the coroutine finished early");
  }
  // Let the coroutine leave its loop; it switches back for the last time.
  co::detail::switch_context(&s.main_sp, s.co_sp);
  check_fp_mode("main", kRounds, mode);
  if (!s.done) fail("main", kRounds, "the coroutine did not finish");
  if (LIVE_DIGEST() != live_reference(kMainSeed, kRounds))
    fail("main", kRounds, "variables live across switches were corrupted (main)");
  if (s.co_digest != live_reference(kCoSeed, kRounds))
    fail("coroutine", kRounds, "variables live across switches were corrupted (coroutine)");
  std::fesetround(FE_TONEAREST);
  munmap(mem, kStackSize);

  std::printf("  checked: make_context on a %zu KiB mmap'd stack with a guard page\n",
              kStackSize / 1024);
  std::printf("  checked: %d ping-pong rounds passing a counter, plus the final switch back\n",
              kRounds);
  std::printf("  checked: %d callee-saved registers by asm probe, every 3rd switch each side\n",
              kProbeRegs);
  std::printf("  checked: 10 integer + 6 double variables live across switches, both sides\n");
  std::printf("  checked: rounding mode per context (fegetround, %s, nearbyint)\n",
#if defined(__x86_64__)
              "x87 CW + MXCSR"
#else
              "FPCR"
#endif
  );
  std::printf("  checked: entry stack 16-byte aligned, on the coroutine stack%s\n",
#if defined(COFCGI_CONTEXT_UCONTEXT)
              ""
#else
              ", frame chain terminated"
#endif
  );
  std::printf("  checked: switches mix cofcgi_switch_context, co::detail::switch_context, probe\n");
  if (g_failures != 0) {
    std::printf("arch_switch_check: %d failure(s)\n", g_failures);
    return 1;
  }
  std::printf("arch_switch_check: all checks passed\n");
  return 0;
}
