// The hooks layer's C++ face. Linking cofcgi::hooks is all it takes for blocking libc calls
// made inside coroutines (by your code or by libmariadb, libssl, libcurl, libfcgi...) to park
// only the calling coroutine; see hooks/README.md for what is interposed and how.
#pragma once

#include <cstddef>
#include <initializer_list>

#include "cofcgi/runtime/netpoll.h"

namespace co::hooks {
// set_env_list registers names whose setenv/getenv/unsetenv/putenv are private to each
// coroutine (libco's co_set_env_list). Names accumulate; thread-safe.
__attribute__((visibility("default"))) void set_env_list(const char* const* names,
                                                         std::size_t count);
}  // namespace co::hooks

namespace co::hooks {

inline void set_env_list(std::initializer_list<const char*> names) {
  co::hooks::set_env_list(names.begin(), names.size());
}

// ScopedDisable turns the current coroutine's hooks off for a scope (libco's
// co_disable_hook_sys), e.g. to make a deliberately thread-blocking call.
class ScopedDisable {
 public:
  ScopedDisable() : previous_(co::set_hooks_enabled(false)) {}
  ~ScopedDisable() { co::set_hooks_enabled(previous_); }
  ScopedDisable(const ScopedDisable&) = delete;
  ScopedDisable& operator=(const ScopedDisable&) = delete;

 private:
  bool previous_;
};

// ScopedEnable is the opposite, for code in a libco-style coroutine that starts with hooks
// off.
class ScopedEnable {
 public:
  ScopedEnable() : previous_(co::set_hooks_enabled(true)) {}
  ~ScopedEnable() { co::set_hooks_enabled(previous_); }
  ScopedEnable(const ScopedEnable&) = delete;
  ScopedEnable& operator=(const ScopedEnable&) = delete;

 private:
  bool previous_;
};

}  // namespace co::hooks
