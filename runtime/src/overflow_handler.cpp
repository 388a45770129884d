#include "overflow_handler.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "coroutine.h"
#include "log_prefix.h"
#include "sanitizers.h"
#include "scheduler.h"
#include "sys.h"

namespace co::detail {
namespace {

constexpr std::size_t kAltStackSize = 64 * 1024;
struct sigaction g_previous_action;  // written once under the call_once below
thread_local void* tls_alt_stack = nullptr;

// Faults this far below the usable stack still count: a big frame can jump past the guard.
constexpr std::size_t kOverflowSlack = 64 * 1024;

[[maybe_unused]] void on_segv(int sig, siginfo_t* info, void* uctx) {
  Scheduler* sched = Scheduler::get_if_exists();
  Coroutine* co = sched != nullptr ? sched->current() : nullptr;
  auto* addr = static_cast<char*>(info->si_addr);
  if (co != nullptr && !co->is_thread_main) {
    char* bottom = co->stack_bottom();
    if (addr < bottom && addr + kOverflowSlack >= bottom) {
      char msg[512];
      const char* setting = co->stack_size_setting != nullptr
                                ? co->stack_size_setting
                                : "co::Options::stack_size, stCoRoutineAttr_t.stack_size";
      // The error log's prefix (time, pid, level), so the report looks like every other line.
      const std::size_t prefix = log_prefix(msg, sizeof msg, LogLevel::error);
      const int n =
          static_cast<int>(prefix) +
          std::snprintf(
              msg + prefix, sizeof msg - prefix,
              "stack overflow in coroutine #%llu%s%s: fault at %p below its %zu-byte stack "
              "[%p, %p); give it a bigger stack (%s)\n",
              static_cast<unsigned long long>(co->id), co->name ? " " : "",
              co->name ? co->name : "", static_cast<void*>(addr),
              static_cast<std::size_t>(co->stack_top() - bottom), static_cast<void*>(bottom),
              static_cast<void*>(co->stack_top()), setting);
      if (n > 0)
        (void)sys::write(2, msg, static_cast<std::size_t>(n) < sizeof msg ? n : sizeof msg - 1);
    }
  }
  // Hand the fault on: the previous handler, or the default action (re-raised on return).
  if (g_previous_action.sa_flags & SA_SIGINFO) {
    if (g_previous_action.sa_sigaction != nullptr) {
      g_previous_action.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (g_previous_action.sa_handler != SIG_DFL && g_previous_action.sa_handler != SIG_IGN) {
    g_previous_action.sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);
}

}  // namespace

void install_overflow_handler_for_this_thread() {
#if !defined(COFCGI_ASAN) && !defined(COFCGI_TSAN)  // the sanitizers report overflows themselves
  if (tls_alt_stack == nullptr) {
    stack_t current{};
    if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
      void* mem =
          mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mem != MAP_FAILED) {
        stack_t ss{};
        ss.ss_sp = mem;
        ss.ss_size = kAltStackSize;
        if (sigaltstack(&ss, nullptr) == 0) {
          tls_alt_stack = mem;
        } else {
          munmap(mem, kAltStackSize);
        }
      }
    }
  }
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = &on_segv;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &g_previous_action);
  });
#endif
}

void uninstall_overflow_handler_for_this_thread() {
  if (tls_alt_stack == nullptr) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  if (sigaltstack(&ss, nullptr) == 0) munmap(tls_alt_stack, kAltStackSize);
  tls_alt_stack = nullptr;
}

}  // namespace co::detail
