#include "cofcgi/runtime/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>

#include "log_prefix.h"
#include "sys.h"

namespace co {
namespace {

LogLevel level_from_env() {
  const char* v = std::getenv("COFCGI_LOG_LEVEL");
  LogLevel level = LogLevel::info;
  if (v != nullptr) (void)parse_log_level(v, &level);
  return level;
}

// The error log file's path, for reopen_log_file. Process-wide like fd 2 itself; set at
// start-up and read on SIGUSR1, never on the logging path (which only writes to fd 2).
struct LogFile {
  std::mutex mutex;
  std::string path;
};

LogFile& log_file() {
  static LogFile file;
  return file;
}

// open_onto_stderr opens `path` for appending and makes fd 2 a duplicate of it; errno on
// failure, 0 on success. dup2 swaps the fd atomically: a concurrent write goes to one file.
int open_onto_stderr(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return errno;
  // Raw dup3/close: the hooks interpose dup2 and close, and the log is not a hooked fd.
  const long rc = fd == 2 ? 0 : ::syscall(SYS_dup3, fd, 2, 0);
  const int error = rc < 0 ? errno : 0;
  if (fd != 2) (void)detail::sys::close(fd);
  return error;
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

namespace detail {

std::size_t log_prefix(char* out, std::size_t size, LogLevel level) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  // Days since 1970-01-01 to a civil date (proleptic Gregorian; eras of 400 years).
  const long long seconds = ts.tv_sec;
  const long long days = seconds / 86400;
  const long long of_day = seconds % 86400;
  const long long z = days + 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const long long day_of_era = z - era * 146097;
  const long long year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const long long day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const long long month_index = (5 * day_of_year + 2) / 153;  // 0 is March
  const long long day = day_of_year - (153 * month_index + 2) / 5 + 1;
  const long long month = month_index < 10 ? month_index + 3 : month_index - 9;
  const long long year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  const int n = std::snprintf(
      out, size, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03ldZ [%d] cofcgi %s: ", year, month,
      day, of_day / 3600, of_day / 60 % 60, of_day % 60, ts.tv_nsec / 1000000,
      static_cast<int>(::getpid()), level_name(level));
  if (n < 0) return 0;
  return static_cast<std::size_t>(n) < size ? static_cast<std::size_t>(n) : size - 1;
}

}  // namespace detail

bool parse_log_level(const char* name, LogLevel* level) {
  static constexpr LogLevel kLevels[] = {LogLevel::debug, LogLevel::info, LogLevel::warning,
                                         LogLevel::error, LogLevel::off};
  for (const LogLevel l : kLevels) {
    if (std::strcmp(name, l == LogLevel::off ? "off" : level_name(l)) == 0) {
      *level = l;
      return true;
    }
  }
  return false;
}

void set_log_file(const char* path) {
  LogFile& file = log_file();
  std::lock_guard<std::mutex> lock(file.mutex);
  const int error = open_onto_stderr(path);
  if (error != 0) throw std::system_error(error, std::generic_category(), path);
  file.path = path;
}

bool reopen_log_file() {
  LogFile& file = log_file();
  std::lock_guard<std::mutex> lock(file.mutex);
  if (file.path.empty()) return true;
  const int error = open_onto_stderr(file.path);
  if (error == 0) return true;
  log_printf(LogLevel::error, "cannot reopen the error log %s: %s; still writing to the old file",
             file.path.c_str(), std::strerror(error));
  return false;
}

void set_log_level(LogLevel level) { threshold().store(level, std::memory_order_relaxed); }
LogLevel log_level() { return threshold().load(std::memory_order_relaxed); }

void log_printf(LogLevel level, const char* fmt, ...) {
  if (level < log_level()) return;
  char line[1024];
  int n = static_cast<int>(detail::log_prefix(line, sizeof line, level));
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
