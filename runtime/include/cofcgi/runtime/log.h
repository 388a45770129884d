// Runtime log lines to stderr: one place formats them so every layer's errors look alike.
#pragma once

#include "cofcgi/runtime/export.h"

namespace co {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

// log_printf writes "cofcgi <level>: <message>\n" to stderr with one write() when level is at
// or above the threshold (default info; COFCGI_LOG_LEVEL=debug|info|warning|error|off).
COFCGI_API void log_printf(LogLevel level, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
COFCGI_API void set_log_level(LogLevel level);
COFCGI_API LogLevel log_level();

}  // namespace co
