// log_prefix: the start every log line shares, "2026-12-05T00:41:12.345Z [12345] cofcgi error: "
// (UTC, milliseconds, pid, level). Usable in a signal handler (the stack overflow report):
// the date is computed from the epoch seconds here, without gmtime_r's time-zone lock.
#pragma once

#include <cstddef>

#include "cofcgi/runtime/log.h"

namespace co::detail {

// log_prefix writes the prefix into out (NUL-terminated) and returns its length.
std::size_t log_prefix(char* out, std::size_t size, LogLevel level);

}  // namespace co::detail
