#include "scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <exception>
#include <new>
#include <system_error>
#include <typeinfo>

#include "arch/context.h"
#include "cancel.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "intrusive_list.h"
#include "locals.h"
#include "overflow_handler.h"
#include "shared_stack.h"

namespace co::detail {

constinit thread_local Scheduler* Scheduler::tls_scheduler_ = nullptr;

namespace {

std::atomic<bool> g_terminate_on_uncaught{false};

// The control block sits at the top of a private stack, aligned for the cache.
constexpr std::size_t kControlBlockAlign = 64;
char* align_down(char* p, std::size_t align) {
  return reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) & ~(align - 1));
}

void on_park_timeout(TimerNode* node) {
  auto* co =
      reinterpret_cast<Coroutine*>(reinterpret_cast<char*>(node) - offsetof(Coroutine, timer));
  Scheduler::get().make_ready(co, WakeReason::timeout);
}

int ms_until(Deadline deadline) {
  if (deadline == kNoDeadline) return -1;
  const Deadline diff = deadline - now_ns();
  if (diff <= 0) return 0;
  const Deadline ms = (diff + 999999) / 1000000;
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

struct SchedulerOwner {
  Scheduler* scheduler = nullptr;
  void (*destroy)(void*) = nullptr;
  ~SchedulerOwner() {
    if (scheduler != nullptr) destroy(scheduler);
  }
};
thread_local SchedulerOwner tls_owner;

}  // namespace

char* Coroutine::stack_bottom() const {
  return shared != nullptr ? shared->memory.bottom() : stack.bottom();
}
char* Coroutine::stack_top() const {
  return shared != nullptr ? shared->memory.top() : stack.top();
}

// A coroutine released or reset while parked leaves its waiters in queues; take them out
// so nothing wakes a coroutine that no longer exists.
void unlink_waiters(Coroutine* co) {
  if (co->waiter.link.linked()) list_unlink(co->waiter.link);
  for (std::size_t i = 0; i < co->extra_waiter_count; ++i) {
    if (co->extra_waiters[i].link.linked()) list_unlink(co->extra_waiters[i].link);
  }
  // Owned by a frame of co's stack that will never run again.
  delete[] co->extra_waiters;
  co->extra_waiters = nullptr;
  co->extra_waiter_count = 0;
}

Coroutine* current_coroutine() { return Scheduler::get().current(); }

void Scheduler::create_for_this_thread() {
  tls_scheduler_ = new Scheduler();
  tls_owner.scheduler = tls_scheduler_;
  tls_owner.destroy = &destroy_for_this_thread;
}

void Scheduler::destroy_for_this_thread(void* p) {
  auto* s = static_cast<Scheduler*>(p);
  if (s->in_coroutine()) return;  // exit() from a coroutine: cannot unmap the stack we run on
  delete s;
  tls_scheduler_ = nullptr;
}

void Scheduler::after_fork_in_child() {
  // Only the forking thread exists in the child; its scheduler must stop sharing the
  // parent's epoll instance and eventfd (other threads' schedulers are simply gone).
  Scheduler* s = tls_scheduler_;
  if (s == nullptr) return;
  s->wakeup_fd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  s->poller_.rebuild(s->wakeup_fd_.get(), s);
}

Scheduler::Scheduler() : eh_globals_(thread_exception_state()), errno_(&errno) {
  static std::once_flag fork_handler_once;
  std::call_once(fork_handler_once,
                 [] { pthread_atfork(nullptr, nullptr, &Scheduler::after_fork_in_child); });
  main_.is_thread_main = true;
  main_.state = CoState::running;
  wakeup_fd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wakeup_fd_) throw std::system_error(errno, std::generic_category(), "eventfd");
  poller_.add_tagged(wakeup_fd_.get(), this);
#if defined(COFCGI_TSAN)
  main_.tsan_fiber = __tsan_get_current_fiber();
#endif
  install_overflow_handler_for_this_thread();
}

Scheduler::~Scheduler() {
  std::size_t leftover = 0;
  while (ListNode* node = all_.next) {
    if (node == &all_) break;
    Coroutine* co = container_of<Coroutine, &Coroutine::all_link>(node);
    destroy(co);
    ++leftover;
  }
  // The thread's own stack ends with the thread: its co::Local values go too.
  destroy_locals(&main_);
  if (mover_ != nullptr) {
    StackMemory mem = std::move(mover_->stack);
    mover_->~Coroutine();
  }
  if (leftover > 0) {
    log_printf(LogLevel::debug, "thread exit: released %zu unfinished coroutines", leftover);
  }
  uninstall_overflow_handler_for_this_thread();
}

Coroutine* Scheduler::create(const Options& options, EntryFn entry, void* arg) {
  // Default-initialised, not value-initialised (`Coroutine()`): every member has a default
  // member initialiser, and value-initialisation would first zero the whole block (a
  // `rep stos` of ~240 bytes on every create).
  Coroutine* co;
  if (options.shared_stacks != nullptr) {
    co = new Coroutine;
    co->shared = options.shared_stacks->pick();
  } else {
    StackMemory mem = stacks_.take(round_stack_size(options.stack_size));
    // A pooled stack keeps the ASan shadow of its last owner's frames, which never returned.
    cofcgi_asan_unpoison(mem.bottom(), mem.usable_size());
    char* block = align_down(mem.top() - sizeof(Coroutine), kControlBlockAlign);
    co = new (block) Coroutine;
    co->stack = std::move(mem);
    co->sp = make_context(align_down(block, 16), &Scheduler::coroutine_main, co);
    ++stacks_in_use_;
  }
  co->entry = entry;
  co->arg = arg;
  co->id = next_id_++;
  co->name = options.name;
  co->stack_size_setting = options.stack_size_setting;
  co->timer.on_expire = &on_park_timeout;
  list_push_back(all_, co->all_link);
  ++live_;
#if defined(COFCGI_TSAN)
  co->tsan_fiber = __tsan_create_fiber(0);
#endif
  return co;
}

void Scheduler::destroy(Coroutine* co) {
  if (co->ready_link.linked()) {
    list_unlink(co->ready_link);
    --ready_count_;
  }
  unlink_waiters(co);
  timers_.cancel(&co->timer);
  destroy_locals(co);
  forget_cancel_state(co);
  list_unlink(co->all_link);
  --live_;
  if (co->detached) --detached_live_;
#if defined(COFCGI_TSAN)
  __tsan_destroy_fiber(co->tsan_fiber);
#endif
  if (co->shared != nullptr) {
    release_saved(co);
    delete co;
  } else {
    StackMemory mem = std::move(co->stack);
    co->~Coroutine();
    stacks_.give_back(std::move(mem));
    --stacks_in_use_;
  }
}

Coroutine* Scheduler::create_libco(const Options& options, void* (*routine)(void*), void* arg) {
  Coroutine* co = create(options, nullptr, arg);
  co->libco_routine = routine;
  return co;
}

void Scheduler::reset(Coroutine* co) {
  if (co->state == CoState::running || co->is_thread_main) {
    log_printf(LogLevel::error, "co_reset of running coroutine #%llu refused",
               static_cast<unsigned long long>(co->id));
    return;
  }
  if (co->ready_link.linked()) {
    list_unlink(co->ready_link);
    --ready_count_;
  }
  unlink_waiters(co);
  timers_.cancel(&co->timer);
  destroy_locals(co);
  forget_cancel_state(co);
  if (co->shared != nullptr) {
    release_saved(co);
    co->sp = nullptr;
  } else {
    // Its old frames never returned: clear their ASan shadow below the control block.
    cofcgi_asan_unpoison(co->stack.bottom(), static_cast<std::size_t>(reinterpret_cast<char*>(co) -
                                                                      co->stack.bottom()));
    co->sp =
        make_context(align_down(reinterpret_cast<char*>(co), 16), &Scheduler::coroutine_main, co);
  }
  co->state = CoState::created;
}

std::uint64_t Scheduler::spawn(const Options& options, EntryFn entry, void* arg) {
  Coroutine* co = create(options, entry, arg);
  co->detached = true;
  co->hooks_enabled = true;  // the C++ API's coroutines use the hooks by default
  ++detached_live_;
  co->state = CoState::ready;
  list_push_back(ready_, co->ready_link);
  ++ready_count_;
  return co->id;
}

// switch_fast: switch_to() with the common case inline: a plain switch (to a private stack,
// or to the occupant of its shared one; no sanitizer) is the hand-over and the asm routine.
// Everything else takes switch_to, out of line: inlined, its shared-stack and sanitizer work
// would widen park's frame, which every parked coroutine keeps in its saved stack.
__attribute__((always_inline)) inline void Scheduler::switch_fast(Coroutine* from, Coroutine* to) {
  if (plain_switch(to)) [[likely]] {
    hand_over(from, to);
    switch_context(&from->sp, to->sp);
    return;
  }
  switch_to(from, to);
}

int Scheduler::resume(Coroutine* co) {
  switch (co->state) {
    case CoState::done:
      log_printf(LogLevel::error, "resume of finished coroutine #%llu refused",
                 static_cast<unsigned long long>(co->id));
      return EINVAL;
    case CoState::running:
      log_printf(LogLevel::error, "resume of coroutine #%llu refused: it is already running",
                 static_cast<unsigned long long>(co->id));
      return EBUSY;
    case CoState::parked:
      log_printf(LogLevel::error,
                 "resume of coroutine #%llu refused: it is parked waiting for an event",
                 static_cast<unsigned long long>(co->id));
      return EBUSY;
    case CoState::ready:
    case CoState::created:
    case CoState::suspended: break;
  }
  if (co->ready_link.linked()) {
    list_unlink(co->ready_link);
    --ready_count_;
  }
  co->resumer = current_;
  co->state = CoState::running;
  switch_fast(current_, co);
  if (co->state == CoState::done && co->detached) destroy(co);
  return 0;
}

void Scheduler::yield_current() {
  Coroutine* self = current_;
  self->state = CoState::suspended;
  switch_to(self, self->resumer);
}

// hand_over moves the thread's per-coroutine state from `from` to `to` before every switch:
// the C++ exception globals (exception_state.h), errno and current_.
__attribute__((always_inline)) inline void Scheduler::hand_over(Coroutine* from, Coroutine* to) {
  switch_exception_state(eh_globals_, from->eh, to->eh);
  hand_over_errno(from, to);
  current_ = to;
}

// tail_switch_slow: tail_switch() with exception state to move or a different errno to
// restore; `from`'s errno is already saved.
[[gnu::noinline]] void Scheduler::tail_switch_slow(Coroutine* from, Coroutine* to) {
  switch_exception_state(eh_globals_, from->eh, to->eh);
  *errno_ = to->saved_errno;
  current_ = to;
  cofcgi_switch_context(&from->sp, to->sp);
}

// The fallbacks of the tail paths (scheduler.h), out of line: inlined, they would make the
// fast paths save and restore every callee-saved register.
[[gnu::noinline]] void Scheduler::resume_slow(Coroutine* co) { (void)resume(co); }
[[gnu::noinline]] void Scheduler::yield_slow() { yield_current(); }

WakeReason Scheduler::park(Deadline deadline) {
  Coroutine* self = current_;
  // A deadline, a cancel flag or a DeadlineScope: park_timed, reached by a jump. The common
  // park keeps a small frame, which every coroutine parked in it keeps in its saved stack.
  if (deadline != kNoDeadline || park_may_be_refused(self)) [[unlikely]]
    return park_timed(self, deadline);
  self->state = CoState::parked;
  self->wake_reason = WakeReason::notified;
  switch_fast(self, self->resumer);
  if (self->waiter.link.linked()) list_unlink(self->waiter.link);
  return self->wake_reason;
}

[[gnu::noinline]] WakeReason Scheduler::park_timed(Coroutine* self, Deadline deadline) {
  // A cancelled coroutine, or one past its DeadlineScope, does not park (cancel.h); else the
  // timer fires at the earlier of the two deadlines.
  Deadline wake_at = deadline;
  if (park_may_be_refused(self)) {
    const WakeReason refused = refusal(self);
    if (refused != WakeReason::notified) {
      if (self->waiter.link.linked()) list_unlink(self->waiter.link);
      return refused;
    }
    wake_at = std::min(deadline, self->scope_deadline);
  }
  self->state = CoState::parked;
  self->wake_reason = WakeReason::notified;
  if (wake_at != kNoDeadline) {
    self->timer.deadline = wake_at;
    timers_.insert(&self->timer);
  }
  switch_fast(self, self->resumer);
  timers_.cancel(&self->timer);
  if (self->waiter.link.linked()) list_unlink(self->waiter.link);
  if (self->wake_reason == WakeReason::timeout && wake_at < deadline)
    return WakeReason::deadline_exceeded;
  return self->wake_reason;
}

void Scheduler::make_ready(Coroutine* co, WakeReason reason) {
  if (co->state != CoState::parked) return;
  co->state = CoState::ready;
  co->wake_reason = reason;
  list_push_back(ready_, co->ready_link);
  ++ready_count_;
}

void Scheduler::reschedule_current() {
  Coroutine* self = current_;
  if (self->is_thread_main) {
    run_ready_batch();
    return;
  }
  self->state = CoState::ready;
  list_push_back(ready_, self->ready_link);
  ++ready_count_;
  Coroutine* to = self->resumer;
  if (plain_switch(to)) {
    tail_switch(self, to);  // co::yield() does nothing after this either
    return;
  }
  switch_to(self, to);
}

void Scheduler::run_ready_batch() {
  for (std::size_t n = ready_count_; n > 0 && ready_.linked(); --n) {
    // The heartbeat a watchdog reads (inspect.h): one plain store, only this thread writes.
    activity_.rounds.store(activity_.rounds.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
    resume(container_of<Coroutine, &Coroutine::ready_link>(ready_.next));
  }
}

void Scheduler::loop(const std::function<bool()>& should_stop) {
  if (in_coroutine()) {
    throw std::system_error(
        EDEADLK, std::generic_category(),
        "the event loop must run on the thread's own stack, not in a coroutine");
  }
  stop_requested_ = false;
  for (;;) {
    run_ready_batch();
    if (stop_requested_ || should_stop()) break;
    // While coroutines are still ready (they yield in a loop), a non-blocking epoll_wait
    // every round would cost more than the switches (~170 ns): poll I/O every
    // kBusyPollInterval rounds only, as Go's scheduler does, and still fire timers each round.
    const bool busy = ready_count_ > 0;
    if (!busy || ++busy_rounds_ % kBusyPollInterval == 0) {
      const int timeout = busy ? 0 : ms_until(timers_.next_deadline());
      bool wakeup = false;
      // A watchdog must not take an idle thread for a stuck one (inspect.h).
      if (timeout != 0) activity_.sleeping.store(true, std::memory_order_relaxed);
      poller_.wait_events(timeout, this, &wakeup);
      if (timeout != 0) activity_.sleeping.store(false, std::memory_order_relaxed);
      if (wakeup) run_posted();
    }
    if (timers_.size() > 0) timers_.expire(now_ns());  // no clock read (~40 ns) for nothing
  }
  stop_requested_ = false;
}

void Scheduler::post(std::function<void()> fn) {
  // Wake the loop while still holding the lock: once the function is visible, its thread
  // may run it, finish and destroy this scheduler (closing the eventfd), so nothing here
  // may touch the scheduler after unlocking.
  std::lock_guard<std::mutex> lock(posted_mutex_);
  posted_.push_back(std::move(fn));
  const std::uint64_t one = 1;
  (void)sys::write(wakeup_fd_.get(), &one, sizeof one);
}

void Scheduler::run_posted() {
  std::uint64_t count;
  (void)sys::read(wakeup_fd_.get(), &count, sizeof count);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) {
    auto* task = new std::function<void()>(std::move(fn));
    spawn(
        Options{},
        [](void* p) {
          std::unique_ptr<std::function<void()>> f(static_cast<std::function<void()>*>(p));
          (*f)();
        },
        task);
  }
}

Stats Scheduler::stats() const {
  Stats s;
  s.live_coroutines = live_;
  s.ready = ready_count_;
  s.pending_timers = timers_.size();
  s.stacks_in_use = stacks_in_use_;
  s.stacks_pooled = stacks_.pooled();
  s.polled_fds = poller_.registered_count();
  return s;
}

void Scheduler::coroutine_main(void* arg) {
  auto* self = static_cast<Coroutine*>(arg);
  Scheduler& sched = Scheduler::get();
  sched.finish_switch_annotation(self);
  try {
    if (self->libco_routine != nullptr) {
      self->libco_routine(self->arg);
    } else {
      self->entry(self->arg);
    }
  } catch (const std::exception& e) {
    log_printf(LogLevel::error, "coroutine #%llu%s%s ended by an uncaught exception (%s): %s",
               static_cast<unsigned long long>(self->id), self->name ? " " : "",
               self->name ? self->name : "", typeid(e).name(), e.what());
    if (g_terminate_on_uncaught.load(std::memory_order_relaxed)) std::terminate();
  } catch (...) {
    log_printf(LogLevel::error,
               "coroutine #%llu%s%s ended by an uncaught exception of unknown type",
               static_cast<unsigned long long>(self->id), self->name ? " " : "",
               self->name ? self->name : "");
    if (g_terminate_on_uncaught.load(std::memory_order_relaxed)) std::terminate();
  }
  destroy_locals(self);
  sched.finish_current();
}

void Scheduler::finish_current() {
  Coroutine* self = current_;
  self->state = CoState::done;
  switch_to(self, self->resumer);
  cofcgi_context_entry_returned();  // nobody resumes a finished coroutine
}

void Scheduler::mover_main(void* arg) {
  auto* sched = static_cast<Scheduler*>(arg);
  sched->finish_switch_annotation(sched->mover_);
  for (;;) {
    Coroutine* to = sched->mover_to_;
    SharedStack* s = to->shared;
    if (s->occupant != nullptr && s->occupant->state != CoState::done) save_stack(s->occupant);
    if (to->sp == nullptr) to->sp = make_context(s->memory.top(), &Scheduler::coroutine_main, to);
    load_stack(to);
    sched->raw_switch(sched->mover_, to);
  }
}

[[gnu::noinline]] void Scheduler::switch_to(Coroutine* from, Coroutine* to) {
  hand_over(from, to);
  SharedStack* s = to->shared;
  if (s != nullptr && s->occupant != to) {
    if (from->shared == s) {
      // `from` runs on the very stack `to` needs: the copies must run elsewhere.
      if (mover_ == nullptr) {
        StackMemory mem = stacks_.take(round_stack_size(kMinStackSize));
        char* block = align_down(mem.top() - sizeof(Coroutine), kControlBlockAlign);
        mover_ = new (block) Coroutine();
        mover_->stack = std::move(mem);
        mover_->sp = make_context(align_down(block, 16), &Scheduler::mover_main, this);
#if defined(COFCGI_TSAN)
        mover_->tsan_fiber = __tsan_create_fiber(0);
#endif
      }
      mover_to_ = to;
      raw_switch(from, mover_);
      return;
    }
    if (s->occupant != nullptr && s->occupant->state != CoState::done) save_stack(s->occupant);
    if (to->sp == nullptr) to->sp = make_context(s->memory.top(), &Scheduler::coroutine_main, to);
    load_stack(to);
  }
  raw_switch(from, to);
}

void Scheduler::raw_switch(Coroutine* from, Coroutine* to) {
#if defined(COFCGI_ASAN)
  switching_from_ = from;
  __sanitizer_start_switch_fiber(
      from->state == CoState::done ? nullptr : &from->asan_fake_stack,
      to->is_thread_main ? to->asan_bottom : to->stack_bottom(),
      to->is_thread_main ? to->asan_size
                         : static_cast<std::size_t>(to->stack_top() - to->stack_bottom()));
#endif
#if defined(COFCGI_TSAN)
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  switch_context(&from->sp, to->sp);
  finish_switch_annotation(from);
}

void Scheduler::finish_switch_annotation([[maybe_unused]] Coroutine* self) {
#if defined(COFCGI_ASAN)
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self->asan_fake_stack, &bottom, &size);
  if (switching_from_ != nullptr && switching_from_->is_thread_main) {
    switching_from_->asan_bottom = bottom;
    switching_from_->asan_size = size;
  }
#endif
}

}  // namespace co::detail

namespace co {
// Declared in cofcgi/runtime/coroutine.h; coroutine_main reads the flag.
void set_terminate_on_uncaught_exception(bool terminate) {
  detail::g_terminate_on_uncaught.store(terminate, std::memory_order_relaxed);
}
}  // namespace co

extern "C" void cofcgi_context_entry_returned() {
  co::log_printf(co::LogLevel::error, "a coroutine's entry function returned past its trampoline");
  std::abort();
}
