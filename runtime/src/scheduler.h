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

#include "cofcgi/runtime/options.h"
#include "cofcgi/runtime/scheduler.h"
#include "coroutine.h"
#include "netpoller_epoll.h"
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
  // are resume() and yield_current().
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
  void switch_to(Coroutine* from, Coroutine* to);
  void raw_switch(Coroutine* from, Coroutine* to);
  bool plain_switch(const Coroutine* to) const;
  void tail_switch(Coroutine* from, Coroutine* to);
  void finish_current();
  void run_posted();
  void finish_switch_annotation(Coroutine* self);
  Coroutine* switching_from_ = nullptr;  // for AddressSanitizer's stack bookkeeping

  // constinit: other translation units read it directly instead of through a TLS wrapper
  // function that checks for dynamic initialisation on every access.
  static constinit thread_local Scheduler* tls_scheduler_;

  Coroutine main_;             // the thread's own stack
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
};

}  // namespace co::detail
