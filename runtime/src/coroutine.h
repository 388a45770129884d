// The coroutine control block. Kept small (one cache-line pair): with shared stacks ten
// million of them must fit in memory, so per-coroutine extras (locals, saved stack bytes)
// are allocated only when used.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cofcgi/runtime/inspect.h"
#include "cofcgi/runtime/wait_queue.h"
#include "exception_state.h"
#include "sanitizers.h"
#include "stack_memory.h"
#include "timer_queue.h"

namespace co::detail {

class SharedStack;
struct LocalTable;
struct CancelTarget;

// A parked coroutine's entry in a wait queue. Each coroutine embeds one; waiting on many
// queues at once (poll) uses extra ones from the heap, never from the coroutine's stack,
// which shared-stack mode copies away.
struct Coroutine;
struct Waiter {
  explicit Waiter(Coroutine* c = nullptr) : co(c) {}
  ListNode link;
  Coroutine* co;
};

enum class CoState : std::uint8_t {
  created,    // never ran
  running,    // on the call chain: executing, or waiting for a coroutine it resumed
  suspended,  // yielded (libco co_yield); resumed only explicitly
  parked,     // waiting for an event; the scheduler resumes it
  ready,      // woken, queued to run
  done,       // entry returned
};

using EntryFn = void (*)(void*);

// Every member needs a default member initialiser: Scheduler::create default-initialises.
struct Coroutine {
  void* sp = nullptr;               // saved stack pointer while not executing
  Coroutine* resumer = nullptr;     // where yielding returns to
  ListNode ready_link;              // in the scheduler's ready queue
  ListNode all_link;                // in the scheduler's list of live coroutines
  Waiter waiter{this};              // in one WaitQueue or fd wait queue while parked
  Waiter* extra_waiters = nullptr;  // poll's heap waiters while parked on many fds
  std::size_t extra_waiter_count = 0;
  TimerNode timer;  // deadline of the current park
  EntryFn entry = nullptr;
  void* (*libco_routine)(void*) = nullptr;  // libco's entry signature, when set
  void* arg = nullptr;
  std::uint64_t id = 0;
  const char* name = nullptr;
  const char* stack_size_setting = nullptr;  // co::Options::stack_size_setting
  CoState state = CoState::created;
  WakeReason wake_reason = WakeReason::notified;
  bool is_thread_main = false;  // the thread's own stack, not a coroutine
  bool detached = false;        // destroyed by the scheduler when it finishes (co::go)
  bool hooks_enabled = false;   // libco co_enable_hook_sys; read by the hooks layer
  // The epoll events (same bits as poll's) of the netpoller wake-ups since the current fd
  // wait began: poll_fds on one fd answers from them instead of polling again.
  std::uint16_t ready_events = 0;
  ExceptionState eh;             // C++ exception globals while switched out
  int saved_errno = 0;           // errno while switched out
  LocalTable* locals = nullptr;  // coroutine-local values, allocated on first use
  WaitSite wait;                 // what it is parked on (inspect.h); set by WaitSiteScope
  // Cancellation (cancel.h): the earliest open DeadlineScope, the CancelHandle's shared
  // target (made on first use), the cancel flag (never cleared but by co_reset), and how
  // many CancelShields are open (while any is, park ignores flag and deadline).
  Deadline scope_deadline = kNoDeadline;
  CancelTarget* cancel_target = nullptr;
  bool cancel_requested = false;
  std::uint8_t cancel_shields = 0;
  // Private stack: the control block lives at the top of its own stack mapping.
  StackMemory stack;
  // Shared stack: the group member it runs on and its saved bytes while switched out.
  SharedStack* shared = nullptr;
  char* saved = nullptr;
  std::uint32_t saved_size = 0;
  std::uint32_t saved_capacity = 0;
#if defined(COFCGI_ASAN)
  void* asan_fake_stack = nullptr;
  const void* asan_bottom = nullptr;
  std::size_t asan_size = 0;
#endif
#if defined(COFCGI_TSAN)
  void* tsan_fiber = nullptr;
#endif

  // The stack range the coroutine runs on (private or shared), for overflow reports and
  // sanitizer annotations.
  char* stack_bottom() const;
  char* stack_top() const;
};

// WaitSiteScope records what the coroutine parks on for the length of a wait (wait_fd,
// poll_fds, sleep): two stores, read only when a status page or dump renders it.
struct WaitSiteScope {
  WaitSiteScope(Coroutine* c, const WaitSite& site) : co(c) { co->wait = site; }
  ~WaitSiteScope() { co->wait = WaitSite{}; }
  WaitSiteScope(const WaitSiteScope&) = delete;
  WaitSiteScope& operator=(const WaitSiteScope&) = delete;
  Coroutine* co;
};

// The running coroutine of this thread (its main context when no coroutine runs).
Coroutine* current_coroutine();

}  // namespace co::detail
