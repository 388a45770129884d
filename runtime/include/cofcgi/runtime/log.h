// Runtime log lines to stderr: one place formats them so every layer's errors look alike.
#pragma once

#include "cofcgi/runtime/export.h"

namespace co {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

// log_printf writes one line to stderr (fd 2) with one write() when level is at or above the
// threshold (default info; COFCGI_LOG_LEVEL=debug|info|warning|error|off):
//   2026-12-05T00:41:12.345Z [12345] cofcgi error: <message>
// The time is UTC (ISO 8601, milliseconds), then the pid of the process (a worker's, under a
// supervisor), the level and the message, cut at 1 KiB.
COFCGI_API void log_printf(LogLevel level, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
COFCGI_API void set_log_level(LogLevel level);
COFCGI_API LogLevel log_level();
// parse_log_level reads "debug", "info", "warning", "error" or "off"; false for anything else.
COFCGI_API bool parse_log_level(const char* name, LogLevel* level);

// set_log_file makes fd 2 a duplicate of `path` (opened O_APPEND, created 0640), so the log
// lines and anything else written to stderr (a library's message, a sanitizer report) land
// in it, as php-fpm's error_log does. Throws std::system_error naming the path.
COFCGI_API void set_log_file(const char* path);
// reopen_log_file opens the set_log_file path again and moves it onto fd 2 with dup2 (after
// logrotate renamed the file: SIGUSR1). A line written meanwhile goes to the old file or the
// new one, never nowhere. Without a log file it does nothing and returns true; on failure
// the old file stays and false is returned (the error is logged there).
COFCGI_API bool reopen_log_file();

}  // namespace co
