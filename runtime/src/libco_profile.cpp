// The seed libco variant's profile (issue 17): process-wide, off by default; switched on by
// co_set_libco_timeouts or the environment variable COFCGI_LIBCO_TIMEOUTS (read once). The
// hooks layer asks libco_profile() when a call times out and for the default timeout of a
// socket with none.
#include <errno.h>
#include <stdlib.h>

#include <atomic>
#include <cstring>

#include "co_routine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "scheduler.h"

namespace co {
namespace {

// libco's alloc_by_fd gives every socket 1 s each way (co_hook_sys_call.cpp).
constexpr int kLibcoDefaultTimeoutMs = 1000;

struct Settings {
  std::atomic<bool> enabled{false};
  std::atomic<int> read_ms{0};
  std::atomic<int> write_ms{0};
};

int timeout_or_default(int ms) { return ms < 0 ? kLibcoDefaultTimeoutMs : ms; }

// parse_ms reads a non-negative decimal number of milliseconds ending at `end` (',' or NUL).
bool parse_ms(const char* text, char stop, int* out, const char** rest) {
  char* end = nullptr;
  errno = 0;
  const long v = strtol(text, &end, 10);
  if (end == text || errno != 0 || v < 0 || v > 86400000 || *end != stop) return false;
  *out = static_cast<int>(v);
  *rest = end;
  return true;
}

void read_environment(Settings& s) {
  // secure_getenv, not getenv: the hooks layer interposes getenv (co_set_env_list) and the
  // runtime never calls into it.
  const char* text = secure_getenv("COFCGI_LIBCO_TIMEOUTS");
  if (text == nullptr || *text == '\0' || std::strcmp(text, "0") == 0 ||
      std::strcmp(text, "off") == 0) {
    return;
  }
  int read_ms = kLibcoDefaultTimeoutMs;
  int write_ms = kLibcoDefaultTimeoutMs;
  const char* rest = nullptr;
  if (std::strcmp(text, "on") != 0) {
    const bool ok =
        std::strchr(text, ',') != nullptr
            ? parse_ms(text, ',', &read_ms, &rest) && parse_ms(rest + 1, '\0', &write_ms, &rest)
            : parse_ms(text, '\0', &read_ms, &rest);
    if (!ok) {
      log_printf(LogLevel::error,
                 "COFCGI_LIBCO_TIMEOUTS=\"%s\" ignored: expected on, off, READ_MS or "
                 "READ_MS,WRITE_MS; the libco-variant profile stays off",
                 text);
      return;
    }
    if (std::strchr(text, ',') == nullptr) write_ms = read_ms;
  }
  s.read_ms.store(read_ms, std::memory_order_relaxed);
  s.write_ms.store(write_ms, std::memory_order_relaxed);
  s.enabled.store(true, std::memory_order_release);
}

Settings& settings() {
  // Never destroyed (hooks may run during static destruction); initialised thread-safely.
  static Settings* s = [] {
    const int saved = errno;
    auto* fresh = new Settings;
    read_environment(*fresh);
    errno = saved;
    return fresh;
  }();
  return *s;
}

}  // namespace

LibcoProfile libco_profile() {
  LibcoProfile p;
  const Settings& s = settings();
  p.enabled = s.enabled.load(std::memory_order_acquire);
  if (!p.enabled) return p;
  p.read_timeout_ms = s.read_ms.load(std::memory_order_relaxed);
  p.write_timeout_ms = s.write_ms.load(std::memory_order_relaxed);
  if (detail::Scheduler* sched = detail::Scheduler::get_if_exists()) {
    const detail::Coroutine* co = sched->current();
    p.active = co->libco_routine != nullptr && co->hooks_enabled && !co->is_thread_main;
  }
  return p;
}

}  // namespace co

void co_set_libco_timeouts(int enable, int read_timeout_ms, int write_timeout_ms) {
  co::Settings& s = co::settings();
  s.read_ms.store(co::timeout_or_default(read_timeout_ms), std::memory_order_relaxed);
  s.write_ms.store(co::timeout_or_default(write_timeout_ms), std::memory_order_relaxed);
  s.enabled.store(enable != 0, std::memory_order_release);
}
