// Per-coroutine environment for CGI-style code (libco's co_set_env_list): for the names
// registered, setenv/getenv/unsetenv/putenv inside a coroutine with hooks on act on that
// coroutine's own copy, so getenv("QUERY_STRING") sees its own request. A name the
// coroutine never set reads the process environment; other names always do.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "co_routine.h"
#include "cofcgi/hooks/hooks.h"
#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/local.h"
#include "cofcgi/runtime/netpoll.h"
#include "real_calls.h"

// glibc declares these arguments nonnull, but a hook stands between arbitrary callers and
// libc: a NULL must reach libc and get libc's answer, not crash in the hook.
#pragma GCC diagnostic ignored "-Wnonnull-compare"

namespace co::hooks {
namespace {

// The registered names: published once and replaced (never freed) when more are added, so
// getenv can read them without a lock from any thread.
std::atomic<const std::vector<std::string>*> g_names{nullptr};
std::mutex g_names_mutex;

bool registered(const char* name, std::size_t len) {
  const std::vector<std::string>* names = g_names.load(std::memory_order_acquire);
  if (names == nullptr) return false;
  for (const std::string& n : *names) {
    if (n.size() == len && std::memcmp(n.data(), name, len) == 0) return true;
  }
  return false;
}

struct EnvEntry {
  std::string name;
  bool is_set;  // false: unset in this coroutine (hides the process value)
  std::string value;
};

struct CoroutineEnv {
  std::vector<EnvEntry> entries;
  EnvEntry* find(const char* name, std::size_t len) {
    for (EnvEntry& e : entries) {
      if (e.name.size() == len && std::memcmp(e.name.data(), name, len) == 0) return &e;
    }
    return nullptr;
  }
  void put(const char* name, std::size_t len, bool is_set, const char* value) {
    EnvEntry* e = find(name, len);
    if (e == nullptr) {
      entries.push_back(EnvEntry{std::string(name, len), is_set, {}});
      e = &entries.back();
    }
    e->is_set = is_set;
    e->value = value != nullptr ? value : "";
  }
};

co::Local<CoroutineEnv>& coroutine_env() {
  static co::Local<CoroutineEnv>* env = new co::Local<CoroutineEnv>();  // never destroyed
  return *env;
}

bool private_name(const char* name, std::size_t len) {
  return name != nullptr && co::hooks_active() && registered(name, len);
}

}  // namespace

void set_env_list(const char* const* names, std::size_t count) {
  std::lock_guard<std::mutex> lock(g_names_mutex);
  const std::vector<std::string>* current = g_names.load(std::memory_order_acquire);
  auto next = current != nullptr ? std::vector<std::string>(*current) : std::vector<std::string>();
  for (std::size_t i = 0; i < count; ++i) {
    if (names[i] != nullptr && std::find(next.begin(), next.end(), names[i]) == next.end())
      next.emplace_back(names[i]);
  }
  if (current != nullptr && next.size() == current->size()) return;  // nothing new
  // A replaced list is never freed (a getenv on another thread may still be reading it);
  // it stays reachable from here, so leak checkers do not report it.
  static auto* retired = new std::vector<const std::vector<std::string>*>();
  if (current != nullptr) retired->push_back(current);
  g_names.store(new std::vector<std::string>(std::move(next)), std::memory_order_release);
}

}  // namespace co::hooks

using namespace co::hooks;

extern "C" {

COFCGI_API void co_set_env_list(const char* name[], size_t cnt) { set_env_list(name, cnt); }

COFCGI_API char* getenv(const char* name) {
  if (name != nullptr && private_name(name, std::strlen(name)) && coroutine_env().has_value()) {
    if (EnvEntry* e = coroutine_env()->find(name, std::strlen(name))) {
      return e->is_set ? e->value.data() : nullptr;
    }
  }
  return REAL(getenv)(name);
}

COFCGI_API int setenv(const char* name, const char* value, int overwrite) {
  if (name == nullptr || *name == '\0' || std::strchr(name, '=') != nullptr)
    return REAL(setenv)(name, value, overwrite);
  const std::size_t len = std::strlen(name);
  if (!private_name(name, len)) return REAL(setenv)(name, value, overwrite);
  CoroutineEnv& env = coroutine_env().get();
  EnvEntry* e = env.find(name, len);
  const bool exists = e != nullptr ? e->is_set : REAL(getenv)(name) != nullptr;
  if (exists && overwrite == 0) return 0;
  env.put(name, len, true, value);
  return 0;
}

COFCGI_API int unsetenv(const char* name) {
  if (name == nullptr || *name == '\0' || std::strchr(name, '=') != nullptr)
    return REAL(unsetenv)(name);
  const std::size_t len = std::strlen(name);
  if (!private_name(name, len)) return REAL(unsetenv)(name);
  coroutine_env().get().put(name, len, false, nullptr);
  return 0;
}

COFCGI_API int putenv(char* string) {
  const char* eq = string != nullptr ? std::strchr(string, '=') : nullptr;
  if (eq == nullptr || eq == string) return REAL(putenv)(string);
  const auto len = static_cast<std::size_t>(eq - string);
  if (!private_name(string, len)) return REAL(putenv)(string);
  coroutine_env().get().put(string, len, true, eq + 1);
  return 0;
}

}  // extern "C"
