// libco's C API (co_routine.h) over the same scheduler as the C++ API.
#include <errno.h>

#include <cstdarg>
#include <cstdio>
#include <system_error>

#include "co_routine.h"
#include "co_routine_specific.h"
#include "cofcgi/runtime/cond_var.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "locals.h"
#include "scheduler.h"
#include "shared_stack.h"

using co::detail::Coroutine;
using co::detail::CoState;
using co::detail::Scheduler;

// libco's opaque types are cofcgi's own objects.
struct stCoCond_t {
  co::CondVar cond;
};

namespace {

Coroutine* from_libco(stCoRoutine_t* co) { return reinterpret_cast<Coroutine*>(co); }
stCoRoutine_t* to_libco(Coroutine* co) { return reinterpret_cast<stCoRoutine_t*>(co); }

// co_resume on a thread without a scheduler yet (it can only log the misuse).
[[gnu::noinline]] void resume_on_new_scheduler(Coroutine* co) { Scheduler::get().resume_tail(co); }

std::size_t attr_stack_size(int requested) {
  if (requested <= 0) return co::kDefaultStackSize;  // libco's rule for 0 and below
  const auto size = static_cast<std::size_t>(requested);
  return size < co::kMinStackSize ? co::kMinStackSize : size;
}

}  // namespace

extern "C" {

int co_create(stCoRoutine_t** out, const stCoRoutineAttr_t* attr, void* (*routine)(void*),
              void* arg) {
  if (out == nullptr || routine == nullptr) {
    co::log_printf(co::LogLevel::error, "co_create: %s is NULL", out == nullptr ? "co" : "routine");
    errno = EINVAL;
    return -1;
  }
  co::Options options;
  if (attr != nullptr) {
    options.stack_size = attr_stack_size(attr->stack_size);
    options.shared_stacks = attr->share_stack;
  }
  try {
    Coroutine* co = Scheduler::get().create_libco(options, routine, arg);
    *out = to_libco(co);
    return 0;
  } catch (const std::system_error& e) {
    errno = e.code().value();
    return -1;
  } catch (const std::bad_alloc&) {
    co::log_printf(co::LogLevel::error, "co_create: out of memory");
    errno = ENOMEM;
    return -1;
  }
}

void co_resume(stCoRoutine_t* co) {
  if (co == nullptr) {
    co::log_printf(co::LogLevel::error, "co_resume(NULL) ignored");
    return;
  }
  // Written so that the common case keeps no frame: a tail jump into resume_tail.
  if (Scheduler* sched = Scheduler::get_if_exists()) [[likely]] {
    sched->resume_tail(from_libco(co));  // errors are logged there
    return;
  }
  resume_on_new_scheduler(from_libco(co));
}

void co_yield_ct() {
  Scheduler* sched = Scheduler::get_if_exists();  // none yet: certainly not in a coroutine
  if (sched == nullptr || !sched->in_coroutine()) [[unlikely]] {
    co::log_printf(co::LogLevel::error, "co_yield outside a coroutine ignored");
    return;
  }
  sched->yield_tail();
}

// libco yields the running coroutine whatever the argument; so does this.
void cofcgi_co_yield(stCoRoutine_t*) { co_yield_ct(); }

void co_release(stCoRoutine_t* co) {
  if (co == nullptr) return;
  Coroutine* c = from_libco(co);
  if (c->is_thread_main) return;
  if (c->state == CoState::running) {
    co::log_printf(co::LogLevel::error, "co_release of running coroutine #%llu refused",
                   static_cast<unsigned long long>(c->id));
    return;
  }
  Scheduler::get().destroy(c);
}

void co_reset(stCoRoutine_t* co) {
  if (co == nullptr) return;
  Scheduler::get().reset(from_libco(co));
}

stCoRoutine_t* co_self() { return to_libco(Scheduler::get().current()); }
stCoRoutine_t* co_get_current() { return co_self(); }

int co_poll(stCoEpoll_t*, struct pollfd fds[], nfds_t nfds, int timeout_ms) {
  return co::poll_fds(fds, nfds, timeout_ms);
}

void co_eventloop(stCoEpoll_t*, pfn_co_eventloop_t pfn, void* arg) {
  Scheduler::get().loop([pfn, arg] { return pfn != nullptr && pfn(arg) == -1; });
}

stCoEpoll_t* co_get_epoll_ct() { return reinterpret_cast<stCoEpoll_t*>(&Scheduler::get()); }

int co_setspecific(pthread_key_t key, const void* value) {
  Scheduler& sched = Scheduler::get();
  if (!sched.in_coroutine()) return pthread_setspecific(key, value);
  co::detail::set_local(key, const_cast<void*>(value), nullptr);
  return 0;
}

// Like co_setspecific, but the coroutine owns the value and frees it when it ends.
int cofcgi_co_setspecific_owned(pthread_key_t key, void* value) {
  Scheduler& sched = Scheduler::get();
  if (!sched.in_coroutine()) return pthread_setspecific(key, value);
  co::detail::set_local(key, value, [](void* p) { std::free(p); });
  return 0;
}

void* co_getspecific(pthread_key_t key) {
  Scheduler& sched = Scheduler::get();
  if (!sched.in_coroutine()) return pthread_getspecific(key);
  return co::detail::get_local(key);
}

void co_enable_hook_sys() { co::set_hooks_enabled(true); }
void co_disable_hook_sys() { co::set_hooks_enabled(false); }
bool co_is_enable_sys_hook() { return Scheduler::get().current()->hooks_enabled; }

stCoCond_t* co_cond_alloc() { return new (std::nothrow) stCoCond_t(); }

int co_cond_free(stCoCond_t* cc) {
  delete cc;  // waiters, if any, are woken and the destruction is logged
  return 0;
}

int co_cond_signal(stCoCond_t* cc) {
  cc->cond.notify_one();
  return 0;
}

int co_cond_broadcast(stCoCond_t* cc) {
  cc->cond.notify_all();
  return 0;
}

int co_cond_timedwait(stCoCond_t* cc, int timeout_ms) {
  if (!Scheduler::get().in_coroutine()) {
    co::log_printf(co::LogLevel::error, "co_cond_timedwait outside a coroutine");
    errno = EPERM;
    return -1;
  }
  const co::Deadline deadline =
      timeout_ms <= 0 ? co::kNoDeadline : co::deadline_after(std::chrono::milliseconds(timeout_ms));
  try {
    if (cc->cond.wait_until(deadline)) return 0;
    errno = ETIMEDOUT;
  } catch (const std::system_error& e) {
    errno = e.code().value();  // cancelled (ECANCELED) or past its deadline (ETIMEDOUT)
  }
  return -1;
}

stShareStack_t* co_alloc_sharestack(int count, int stack_size) {
  try {
    return co::make_shared_stacks(count, attr_stack_size(stack_size));
  } catch (const std::system_error& e) {
    co::log_printf(co::LogLevel::error, "co_alloc_sharestack(%d, %d): %s", count, stack_size,
                   e.what());
    errno = e.code().value();
    return nullptr;
  }
}

void co_log_err(const char* fmt, ...) {
  char buf[900];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  co::log_printf(co::LogLevel::error, "%s", buf);
}

}  // extern "C"
