// Coroutine-local storage: each coroutine (and each thread's own stack) sees its own T.
#pragma once

#include <cstdint>
#include <memory>

#include "cofcgi/runtime/export.h"

namespace co {

namespace detail {
using LocalDeleter = void (*)(void*);
COFCGI_API std::uint64_t new_local_key();
// get_local returns the current coroutine's value for key, or nullptr.
COFCGI_API void* get_local(std::uint64_t key);
// set_local stores value (owned: `deleter` runs on it when replaced or when the coroutine
// ends; nullptr for not owned).
COFCGI_API void set_local(std::uint64_t key, void* value, LocalDeleter deleter);
}  // namespace detail

// Local<T> is a per-coroutine T, default-constructed on first access in each coroutine and
// destroyed when that coroutine ends. Declare it at namespace scope or static.
template <typename T>
class Local {
 public:
  Local() : key_(detail::new_local_key()) {}
  Local(const Local&) = delete;
  Local& operator=(const Local&) = delete;

  T& get() {
    if (void* p = detail::get_local(key_)) return *static_cast<T*>(p);
    auto fresh = std::make_unique<T>();
    T* raw = fresh.get();
    detail::set_local(key_, fresh.release(), [](void* p) { delete static_cast<T*>(p); });
    return *raw;
  }
  T* operator->() { return &get(); }
  T& operator*() { return get(); }
  // has_value tells whether the current coroutine already made its T.
  bool has_value() const { return detail::get_local(key_) != nullptr; }

 private:
  std::uint64_t key_;
};

}  // namespace co
