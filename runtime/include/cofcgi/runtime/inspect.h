// Looking inside a running scheduler: which coroutines exist, what each is parked on, and a
// heartbeat other threads may read (a watchdog). Status pages, slow logs and coroutine dumps
// are built on these; backtrace.h walks a coroutine's stack.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "cofcgi/runtime/export.h"

namespace co {

// CoroutineHandle names one live coroutine of the calling thread. It is a plain pointer:
// valid while the coroutine lives, and only on the coroutine's own thread (the scheduler's
// lists are not locked). Hold one only while something guarantees the coroutine is alive
// (a request's registry entry is removed before its handler's coroutine ends).
class CoroutineHandle {
 public:
  CoroutineHandle() = default;
  explicit CoroutineHandle(void* coroutine) : coroutine_(coroutine) {}
  void* raw() const { return coroutine_; }
  explicit operator bool() const { return coroutine_ != nullptr; }

 private:
  void* coroutine_ = nullptr;
};

// this_coroutine is the handle of the running coroutine (the thread's own stack outside one).
COFCGI_API CoroutineHandle this_coroutine();

// What a parked coroutine waits for, as recorded by the call that parked it. Two stores
// per park and no allocation: what the peer is, or which libc call led here, is worked out
// only when someone renders it (describe_wait, backtrace.h).
enum class WaitKind : std::uint8_t {
  none,   // not parked, or parked on a co:: primitive (mutex, condition, channel, ...)
  fd,     // wait_fd: one fd (the hooks' read/recv/send/connect/accept ...)
  poll,   // poll_fds: several fds (poll, select, epoll_wait); fd is the first
  sleep,  // sleep_for/sleep_until (the hooks' sleep, usleep, nanosleep)
};
struct WaitSite {
  WaitKind kind = WaitKind::none;
  std::uint16_t events = 0;  // POLLIN/POLLOUT for fd and poll
  int fd = -1;
  std::uint32_t fd_count = 0;  // poll: how many fds
};

enum class CoroutineState : std::uint8_t { created, running, suspended, parked, ready, done };

struct CoroutineInfo {
  std::uint64_t id = 0;
  const char* name = nullptr;  // co::Options::name; valid while the coroutine lives
  CoroutineState state = CoroutineState::created;
  WaitSite wait;
  std::size_t stack_size = 0;  // usable bytes of its private stack (0: a shared stack)
  bool thread_main = false;    // the thread's own stack
};

// inspect describes a coroutine of the calling thread.
COFCGI_API CoroutineInfo inspect(CoroutineHandle coroutine);

// for_each_coroutine calls fn for every live coroutine of the calling thread, the running
// one included. fn must not create, end or switch coroutines.
COFCGI_API void for_each_coroutine(const std::function<void(CoroutineHandle)>& fn);

// describe_wait writes what a parked coroutine waits on into out (at most size bytes,
// NUL-terminated), the way an operator reads it: "recv fd 12 from 127.0.0.1:3306",
// "accept fd 5 on 127.0.0.1:9000", "poll 3 fds (first fd 7)", "sleep", "co:: primitive".
// The call name comes from the fd and the direction (a socket read is a recv: the hooks make
// it one; a poll on one fd, as libmariadb makes before it reads, is said the same way), the
// peer from getpeername; both are looked up now, not when the coroutine parked.
COFCGI_API void describe_wait(const CoroutineInfo& info, char* out, std::size_t size);

// ThreadActivity: a scheduler's heartbeat, readable from any thread. The event loop bumps
// `rounds` once per round and sets `sleeping` while it waits in epoll_wait with nothing to
// run: a thread whose rounds stand still while it is not sleeping runs one coroutine that
// does not switch (a CPU-bound handler, or a blocking call the hooks do not cover).
struct ThreadActivity {
  std::atomic<std::uint64_t> rounds{0};
  std::atomic<bool> sleeping{false};
  pthread_t thread{};
};

// this_thread_activity is the calling thread's (its scheduler is created if needed); it lives
// as long as the scheduler, i.e. until the thread exits.
COFCGI_API const ThreadActivity& this_thread_activity();

// Scheduler figures that need a walk over the coroutines (co::stats() has the counts):
// bytes of private stacks in use and pooled for reuse.
struct StackFigures {
  std::size_t coroutines = 0;
  std::size_t stack_bytes_in_use = 0;
  std::size_t stack_bytes_pooled = 0;
};
COFCGI_API StackFigures stack_figures();

}  // namespace co
