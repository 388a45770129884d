// Scheduler: one per thread, reached through a thread_local pointer - the only mutable
// global state of the runtime. Invariant: coroutines never migrate between threads, so a
// coroutine's thread-locals and errno are stable across a switch, and nothing here needs a
// lock except the cross-thread post queue.
//
// Switching is asymmetric, as in libco: resume() runs a coroutine from the current context
// and records the current one as its resumer; yielding or parking returns to the resumer.
// The event loop (co::run, co_eventloop) is the resumer of every coroutine it wakes.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "arch/context.h"
#include "cofcgi/runtime/inspect.h"
#include "cofcgi/runtime/options.h"
#include "cofcgi/runtime/scheduler.h"
#include "coroutine.h"
#include "netpoller_epoll.h"
#include "shared_stack.h"
#include "stack_pool.h"
#include "timer_queue.h"
#include "unique_fd.h"

namespace co::detail {

class Scheduler {
 public:
  // get returns this thread's scheduler, creating it on first use.
  static Scheduler& get() {
    if (tls_scheduler_ == nullptr) create_for_this_thread();
    return *tls_scheduler_;
  }
  static Scheduler* get_if_exists() { return tls_scheduler_; }

  Coroutine* current() const { return current_; }
  bool in_coroutine() const { return !current_->is_thread_main; }

  // create makes a coroutine that will run entry(arg); throws std::system_error.
  Coroutine* create(const Options& options, EntryFn entry, void* arg);
  // create_libco makes a coroutine for libco's co_create: routine(arg), hooks off until
  // co_enable_hook_sys, not destroyed when it ends (co_release does that).
  Coroutine* create_libco(const Options& options, void* (*routine)(void*), void* arg);
  // reset rewinds a coroutine that is not running to its start (libco's co_reset).
  void reset(Coroutine* co);
  // destroy frees a coroutine that is not on the call chain (any other state).
  void destroy(Coroutine* co);

  // resume runs co until it yields, parks or ends. Returns 0, or an errno value for misuse
  // (EINVAL finished, EBUSY running or parked), which is also logged.
  int resume(Coroutine* co);
  // yield_current returns to the resumer, leaving the current coroutine suspended.
  void yield_current();
  // resume_tail and yield_tail are resume() and yield_current() for callers that do nothing
  // after them (libco's co_resume and co_yield_ct). When the switch needs no stack copy and
  // no sanitizer bookkeeping they end in a tail call of the asm switch, which returns to
  // the other side with an indirect jump: no `ret` runs through frames the return-stack
  // predictor does not know (each such ret is a mispredict, ~14 ns here). Otherwise they
  // are resume() and yield_current(). Inline (below), so that co_resume and co_yield_ct
  // are one function each on the fast path.
  void resume_tail(Coroutine* co);
  void yield_tail();
  // park blocks the current coroutine until make_ready() or the deadline. The caller links
  // its waiter into a queue first; park unlinks it again before returning.
  WakeReason park(Deadline deadline);
  // make_ready queues a parked coroutine to run; no-op for any other state.
  void make_ready(Coroutine* co, WakeReason reason);
  // reschedule_current queues the current coroutine and returns to the loop (co::yield).
  void reschedule_current();

  // loop runs the event loop: ready coroutines, then epoll and timers. It ends when
  // should_stop (called once per iteration) says so, or after stop().
  void loop(const std::function<bool()>& should_stop);
  void request_stop() { stop_requested_ = true; }
  // run_ready_batch resumes the coroutines ready now (not those they make ready).
  void run_ready_batch();

  void post(std::function<void()> fn);  // any thread

  Netpoller& poller() { return poller_; }
  std::size_t detached_live() const { return detached_live_; }
  Stats stats() const;
  // For inspect.h: the heartbeat, the list of live coroutines, the stack pool.
  ThreadActivity& activity() { return activity_; }
  const ListNode& all_coroutines() const { return all_; }
  const StackPool& stack_pool() const { return stacks_; }
  void release_pooled_stacks() { stacks_.clear(); }
  std::uint64_t spawn(const Options& options, EntryFn entry, void* arg);

 private:
  Scheduler();
  ~Scheduler();
  static void create_for_this_thread();
  static void after_fork_in_child();
  static void destroy_for_this_thread(void*);
  static void coroutine_main(void* arg);
  static void mover_main(void* arg);
  void hand_over(Coroutine* from, Coroutine* to);
  void hand_over_errno(Coroutine* from, Coroutine* to);
  void switch_to(Coroutine* from, Coroutine* to);
  void switch_fast(Coroutine* from, Coroutine* to);
  WakeReason park_timed(Coroutine* self, Deadline deadline);
  void raw_switch(Coroutine* from, Coroutine* to);
  bool plain_switch(const Coroutine* to) const;
  void tail_switch(Coroutine* from, Coroutine* to);
  void tail_switch_slow(Coroutine* from, Coroutine* to);
  void resume_slow(Coroutine* co);
  void yield_slow();
  void finish_current();
  void run_posted();
  void finish_switch_annotation(Coroutine* self);
  Coroutine* switching_from_ = nullptr;  // for AddressSanitizer's stack bookkeeping

  // constinit: other translation units read it directly instead of through a TLS wrapper
  // function that checks for dynamic initialisation on every access.
  static constinit thread_local Scheduler* tls_scheduler_;

  Coroutine main_;  // the thread's own stack
  Coroutine* current_ = &main_;
  Coroutine* mover_ = nullptr;  // relocates shared stacks from a neutral stack
  Coroutine* mover_to_ = nullptr;
  ListNode ready_;
  ListNode all_;
  TimerQueue timers_;
  Netpoller poller_;
  StackPool stacks_;
  ExceptionState* eh_globals_;
  int* errno_;  // this thread's errno (its address never changes)
  std::uint64_t next_id_ = 1;
  std::size_t live_ = 0;
  std::size_t ready_count_ = 0;
  std::size_t detached_live_ = 0;
  std::size_t stacks_in_use_ = 0;
  bool stop_requested_ = false;
  std::uint32_t busy_rounds_ = 0;  // loop rounds that found coroutines still ready
  static constexpr std::uint32_t kBusyPollInterval = 61;
  bool in_loop_ = false;
  UniqueFd wakeup_fd_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  ThreadActivity activity_;  // written by loop(), read by watchdogs on other threads
};

// plain_switch tells whether switching to `to` is switch_to() minus everything but the
// registers: `to` owns its stack (private, or already the occupant of its shared one) and no
// sanitizer needs telling.
inline bool Scheduler::plain_switch(const Coroutine* to) const {
#if defined(COFCGI_ASAN) || defined(COFCGI_TSAN)
  (void)to;
  return false;
#else
  // Written so that the common case, a private stack, falls through (no taken branch).
  if (__builtin_expect(to->shared != nullptr, 0)) return to->shared->occupant == to;
  return true;
#endif
}

// hand_over_errno: errno is per thread, but a parked coroutine must find its own when it
// resumes. Written only when it differs: usually both sides hold the same value.
__attribute__((always_inline)) inline void Scheduler::hand_over_errno(Coroutine* from,
                                                                      Coroutine* to) {
  const int live = *errno_;
  from->saved_errno = live;
  const int next = to->saved_errno;
  if (next != live) [[unlikely]]
    *errno_ = next;
}

// tail_switch is switch_to() for a plain_switch() target, meant to be the caller's last
// statement: the asm routine is then reached by a jump (sibling call) and goes back to
// whoever called the caller with an indirect jump, so no `ret` executes after the switch.
// The fast path is for the common switch: no exception state on either side
// (exception_state.h) and the same errno value on both, so that only `from`'s errno is
// stored; one branch tests both. Anything else takes the out-of-line tail_switch_slow,
// which keeps the fast path free of callee-saved registers.
__attribute__((always_inline)) inline void Scheduler::tail_switch(Coroutine* from, Coroutine* to) {
  const int live_errno = *errno_;
  from->saved_errno = live_errno;
  if ((exception_state_bits(eh_globals_, to->eh) |
       static_cast<unsigned int>(to->saved_errno ^ live_errno)) != 0) [[unlikely]] {
    tail_switch_slow(from, to);
    return;
  }
  current_ = to;
  cofcgi_switch_context(&from->sp, to->sp);
}

inline void Scheduler::resume_tail(Coroutine* co) {
  // The fast path takes what co_resume meets: a coroutine never run or one that yielded.
  // Everything else (queued ready, errors to report, a finished detached coroutine to
  // destroy after the switch) goes through resume().
  const CoState state = co->state;
  const bool fast = state == CoState::suspended || state == CoState::created;
  if (!fast || co->detached || !plain_switch(co)) [[unlikely]] {
    resume_slow(co);
    return;
  }
  Coroutine* from = current_;
  co->resumer = from;
  co->state = CoState::running;
  tail_switch(from, co);
}

inline void Scheduler::yield_tail() {
  Coroutine* self = current_;
  Coroutine* to = self->resumer;
  if (!plain_switch(to)) [[unlikely]] {
    yield_slow();
    return;
  }
  self->state = CoState::suspended;
  tail_switch(self, to);
}

}  // namespace co::detail
