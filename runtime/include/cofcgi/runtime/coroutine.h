// The C++ API for starting and switching coroutines. Each thread has its own scheduler
// (created on first use); coroutines never migrate between threads, so thread-locals and
// errno are stable across a switch.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/options.h"

namespace co {

namespace detail {
// A callable moved to the heap so the coroutine can run it after go() returns.
struct Task {
  virtual ~Task() = default;
  virtual void run() = 0;
};
template <typename F>
struct TaskOf final : Task {
  explicit TaskOf(F&& f) : fn(std::move(f)) {}
  explicit TaskOf(const F& f) : fn(f) {}
  void run() override { fn(); }
  F fn;
};
COFCGI_API std::uint64_t spawn(const Options& options, std::unique_ptr<Task> task);
}  // namespace detail

// go starts `fn` in a new coroutine on this thread's scheduler and returns its id. The
// coroutine is queued and first runs when the caller parks or yields, or when co::run()
// drives the scheduler. When fn returns, the coroutine's stack goes back to the pool. An
// exception escaping fn ends that coroutine with a logged error (or std::terminate, see
// set_terminate_on_uncaught_exception). Throws std::system_error when no stack can be had
// (the message names the limit: memory or vm.max_map_count).
template <typename F>
std::uint64_t go(const Options& options, F&& fn) {
  using Fn = std::decay_t<F>;
  return detail::spawn(options, std::make_unique<detail::TaskOf<Fn>>(std::forward<F>(fn)));
}
template <typename F>
std::uint64_t go(F&& fn) {
  return go(Options{}, std::forward<F>(fn));
}

// yield lets every other ready coroutine run, then continues. From outside a coroutine it
// runs the ready coroutines once and returns.
COFCGI_API void yield();

// in_coroutine tells whether the caller runs on a coroutine (not the thread's own stack).
COFCGI_API bool in_coroutine();

// this_coroutine_id is the id go() returned for the running coroutine, 0 on the thread's
// own stack.
COFCGI_API std::uint64_t this_coroutine_id();

// With terminate on, an exception escaping a coroutine calls std::terminate (after logging)
// instead of ending only that coroutine. Off by default. Process-wide.
COFCGI_API void set_terminate_on_uncaught_exception(bool terminate);

}  // namespace co
