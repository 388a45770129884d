// Writing a diagnostic without going through any hook.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

namespace co::hooks {

inline void raw_write_stderr(const char* msg, int n) {
  if (n > 0) (void)::syscall(SYS_write, 2, msg, static_cast<size_t>(n));
}

}  // namespace co::hooks

namespace co::hooks {
inline void raw_write_stderr_literal(const char* msg, std::size_t n) {
  (void)::syscall(SYS_write, 2, msg, n);
}
}  // namespace co::hooks
