#include "cofcgi/runtime/log.h"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sys.h"

namespace co {
namespace {

LogLevel level_from_env() {
  const char* v = std::getenv("COFCGI_LOG_LEVEL");
  if (v == nullptr) return LogLevel::info;
  if (std::strcmp(v, "debug") == 0) return LogLevel::debug;
  if (std::strcmp(v, "warning") == 0) return LogLevel::warning;
  if (std::strcmp(v, "error") == 0) return LogLevel::error;
  if (std::strcmp(v, "off") == 0) return LogLevel::off;
  return LogLevel::info;
}

std::atomic<LogLevel>& threshold() {
  static std::atomic<LogLevel> level{level_from_env()};
  return level;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
    case LogLevel::off: break;
  }
  return "";
}

}  // namespace

void set_log_level(LogLevel level) { threshold().store(level, std::memory_order_relaxed); }
LogLevel log_level() { return threshold().load(std::memory_order_relaxed); }

void log_printf(LogLevel level, const char* fmt, ...) {
  if (level < log_level()) return;
  char line[1024];
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm parts{};
  gmtime_r(&ts.tv_sec, &parts);
  int n = std::snprintf(line, sizeof line,
                        "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ cofcgi %s: ", parts.tm_year + 1900,
                        parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                        ts.tv_nsec / 1000000, level_name(level));
  va_list args;
  va_start(args, fmt);
  const int body =
      std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n) - 1, fmt, args);
  va_end(args);
  n += body < 0 ? 0 : body;
  if (n > static_cast<int>(sizeof line) - 2) n = static_cast<int>(sizeof line) - 2;
  line[n++] = '\n';
  // One write so concurrent lines never interleave; raw so the hooks never see it.
  (void)detail::sys::write(2, line, static_cast<std::size_t>(n));
}

}  // namespace co
