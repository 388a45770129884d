// Where a stack walk starts: a switched-out coroutine's saved frame (arch/context.h), or a
// running thread sampled by a signal, the way Go's runtime and async-profiler look at a
// thread they cannot stop: pthread_kill, and the handler, on that thread, copies the
// interrupted registers and the top of the stack into a slot the sampler owns. The handler
// only reads memory through process_vm_readv (a syscall: no fault on a short stack) and
// posts a semaphore, both async-signal-safe; the walk itself runs later on the sampler.
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "arch/context.h"
#include "backtrace_internal.h"
#include "cofcgi/runtime/backtrace.h"
#include "scheduler.h"
#include "shared_stack.h"

namespace co::detail {
namespace {

// Process-wide by necessity: a signal handler finds its work only through globals. One
// sample at a time (sample_mutex); the slot pointer is handed over with a compare-exchange,
// so a late handler and a sampler that gave up never both own it.
std::atomic<int> sampling_signal{SIGURG};
std::atomic<SampleSlot*> pending_slot{nullptr};
std::mutex sample_mutex;
sem_t sample_done;

#if defined(__x86_64__) && !defined(COFCGI_CONTEXT_UCONTEXT)
void copy_registers(const ucontext_t& uc, SampleSlot* slot) {
  const greg_t* g = uc.uc_mcontext.gregs;
  const int order[kDwarfRegisters - 1] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI,
                                          REG_RBP, REG_RSP, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                          REG_R12, REG_R13, REG_R14, REG_R15};
  for (int i = 0; i < kDwarfRegisters - 1; ++i)
    slot->regs[i] = static_cast<std::uint64_t>(g[order[i]]);
  slot->regs[16] = static_cast<std::uint64_t>(g[REG_RIP]);
  slot->pc = slot->regs[16];
  slot->stack_base = static_cast<std::uintptr_t>(g[REG_RSP]);
}
#else
void copy_registers(const ucontext_t&, SampleSlot*) {}
#endif

// copy_stack copies up to kStackCopy bytes from the sampled stack pointer, page by page so
// that the copy stops at the end of the mapping instead of failing whole.
void copy_stack(SampleSlot* slot) {
  if (slot->stack_base == 0) return;
  constexpr std::size_t kPage = 4096;
  iovec local{slot->stack, SampleSlot::kStackCopy};
  iovec remote[SampleSlot::kStackCopy / kPage + 1];
  std::size_t n = 0;
  std::uintptr_t at = slot->stack_base;
  std::size_t left = SampleSlot::kStackCopy;
  while (left > 0 && n < sizeof remote / sizeof remote[0]) {
    const std::size_t chunk = std::min(left, kPage - (at % kPage));
    remote[n++] = iovec{reinterpret_cast<void*>(at), chunk};
    at += chunk;
    left -= chunk;
  }
  const ssize_t got = ::process_vm_readv(::getpid(), &local, 1, remote, n, 0);
  slot->stack_size = got > 0 ? static_cast<std::size_t>(got) : 0;
}

void note_coroutine(SampleSlot* slot) {
  Scheduler* sched = Scheduler::get_if_exists();
  if (sched == nullptr || sched->current()->is_thread_main) return;
  const Coroutine* co = sched->current();
  slot->coroutine_id = co->id;
  const char* name = co->name != nullptr ? co->name : "";
  std::size_t i = 0;
  for (; name[i] != '\0' && i + 1 < sizeof slot->coroutine_name; ++i)
    slot->coroutine_name[i] = name[i];
  slot->coroutine_name[i] = '\0';
}

void on_sample_signal(int, siginfo_t*, void* context) {
  const int saved_errno = errno;
  SampleSlot* slot = pending_slot.load(std::memory_order_acquire);
  // A signal meant for another thread, or sent by someone else: not ours to answer.
  if (slot != nullptr && ::pthread_equal(slot->target, ::pthread_self()) &&
      pending_slot.compare_exchange_strong(slot, nullptr, std::memory_order_acq_rel)) {
    copy_registers(*static_cast<ucontext_t*>(context), slot);
    copy_stack(slot);
    note_coroutine(slot);
    ::sem_post(&sample_done);
  }
  errno = saved_errno;
}

void install_handler(int signal) {
  static int installed = 0;
  if (installed == signal) return;
  if (installed == 0) ::sem_init(&sample_done, 0, 0);
  struct sigaction sa {};
  sa.sa_sigaction = &on_sample_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(signal, &sa, nullptr);
  installed = signal;
}

bool wait_done(std::chrono::milliseconds timeout) {
  timespec until{};
  ::clock_gettime(CLOCK_MONOTONIC, &until);
  const long long ns = until.tv_nsec + (timeout.count() % 1000) * 1000000LL;
  until.tv_sec += static_cast<time_t>(timeout.count() / 1000 + ns / 1000000000LL);
  until.tv_nsec = static_cast<long>(ns % 1000000000LL);
  for (;;) {
    if (::sem_clockwait(&sample_done, CLOCK_MONOTONIC, &until) == 0) return true;
    if (errno != EINTR) return false;
  }
}

}  // namespace

bool walk_start_of_coroutine(const Coroutine* co, WalkStart* out) {
#if defined(__x86_64__) && !defined(COFCGI_CONTEXT_UCONTEXT)
  if (co == nullptr || co->is_thread_main || co->sp == nullptr) return false;
  if (co->state == CoState::running || co->state == CoState::created || co->state == CoState::done)
    return false;
  if (co->shared != nullptr && co->shared->occupant != co) return false;  // copied away
  const auto* frame = static_cast<const SwitchFrameX86*>(co->sp);
  *out = WalkStart{};
  const std::pair<int, const void*> saved[] = {{3, frame->rbx},  {6, frame->rbp},
                                               {12, frame->r12}, {13, frame->r13},
                                               {14, frame->r14}, {15, frame->r15}};
  for (const auto& [reg, value] : saved) {
    out->regs[reg] = reinterpret_cast<std::uint64_t>(value);
    out->known[reg] = true;
  }
  // The frame sits just below the switch's return address; popping both leaves rsp where
  // the caller of cofcgi_switch_context had it after its call.
  out->regs[7] = reinterpret_cast<std::uint64_t>(co->sp) + COFCGI_X86_FRAME_SIZE;
  out->known[7] = true;
  out->pc = reinterpret_cast<std::uint64_t>(frame->resume);
  return true;
#else
  (void)co;
  (void)out;
  return false;
#endif
}

std::unique_ptr<SampleSlot> sample_thread(pthread_t thread, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(sample_mutex);
  const int signal = sampling_signal.load(std::memory_order_relaxed);
  install_handler(signal);
  while (::sem_trywait(&sample_done) == 0) {
  }
  auto slot = std::make_unique<SampleSlot>();
  slot->target = thread;
  pending_slot.store(slot.get(), std::memory_order_release);
  if (::pthread_kill(thread, signal) != 0) {
    pending_slot.store(nullptr, std::memory_order_release);
    return nullptr;
  }
  if (wait_done(timeout)) return slot;
  SampleSlot* expected = slot.get();
  if (pending_slot.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel))
    return nullptr;          // the handler never ran: it cannot touch the slot any more
  ::sem_wait(&sample_done);  // it took the slot just now: it is about to post
  return slot;
}

void walk_start_of_sample(const SampleSlot& slot, WalkStart* out) {
  *out = WalkStart{};
  for (int r = 0; r < kDwarfRegisters; ++r) {
    out->regs[r] = slot.regs[r];
    out->known[r] = slot.pc != 0;
  }
  out->pc = slot.pc;
  out->copy = slot.stack;
  out->copy_base = slot.stack_base;
  out->copy_size = slot.stack_size;
}

}  // namespace co::detail

namespace co {
void set_sampling_signal(int signal) {
  detail::sampling_signal.store(signal, std::memory_order_relaxed);
}
}  // namespace co
