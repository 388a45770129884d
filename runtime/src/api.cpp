// The C++ API (co::go, co::run, ...) over the per-thread scheduler.
#include <errno.h>
#include <time.h>

#include <system_error>

#include "cofcgi/runtime/cancel.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/sleep.h"
#include "scheduler.h"

namespace co {
namespace detail {
namespace {

void run_task(void* p) {
  std::unique_ptr<Task> task(static_cast<Task*>(p));
  task->run();
}

}  // namespace

std::uint64_t spawn(const Options& options, std::unique_ptr<Task> task) {
  const std::uint64_t id = Scheduler::get().spawn(options, &run_task, task.get());
  task.release();  // owned by the coroutine now
  return id;
}

// require_coroutine throws when a parking call is made from the thread's own stack.
void require_coroutine(const char* what) {
  if (!Scheduler::get().in_coroutine()) {
    throw std::system_error(EPERM, std::generic_category(),
                            std::string(what) + " must be called from a coroutine");
  }
}

}  // namespace detail

Deadline now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Deadline>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Deadline deadline_after(std::chrono::nanoseconds timeout) {
  if (timeout.count() < 0) return now_ns();
  const Deadline now = now_ns();
  return timeout.count() > kNoDeadline - now ? kNoDeadline : now + timeout.count();
}

void yield() { detail::Scheduler::get().reschedule_current(); }

bool in_coroutine() { return detail::Scheduler::get().in_coroutine(); }

std::uint64_t this_coroutine_id() { return detail::Scheduler::get().current()->id; }

void run() {
  detail::Scheduler& sched = detail::Scheduler::get();
  sched.loop([&sched] { return sched.detached_live() == 0; });
}

void stop() { detail::Scheduler::get().request_stop(); }

Executor Executor::current() { return Executor(&detail::Scheduler::get()); }

void Executor::post(std::function<void()> fn) const {
  static_cast<detail::Scheduler*>(scheduler_)->post(std::move(fn));
}

Stats stats() { return detail::Scheduler::get().stats(); }

void release_pooled_stacks() { detail::Scheduler::get().release_pooled_stacks(); }

void sleep_until(Deadline deadline) {
  detail::require_coroutine("co::sleep_until/sleep_for");
  const detail::WaitSiteScope site(detail::Scheduler::get().current(),
                                   WaitSite{WaitKind::sleep, 0, -1, 0});
  detail::throw_if_interrupted(detail::Scheduler::get().park(deadline), "co::sleep_until");
}

WakeReason park_until(Deadline deadline) {
  detail::require_coroutine("co::park_until");
  return detail::Scheduler::get().park(deadline);
}

}  // namespace co
