// BodyBudget: the request-body bytes one connection holds in memory, counted against the
// connection's cap and the process's. The reader stops reading the connection while the
// budget is over (back-pressure: the web server's writes then wait in the kernel) and
// waits for room, which handlers make by reading their bodies.
//
// Worst case of buffered body memory in a process:
//   max_buffered_body + connections * (one read, 64 KiB + one record, 64 KiB)
// because a connection holding no body bytes of its own may always read (so a handler
// waiting for its body progresses however full the process is), and a read is never split.
// A connection alone holds at most max_buffered_body_per_connection, plus the bodies (each at
// most max_body) of its requests whose handlers wait for their whole body, all within the
// process's cap (a body that cannot fit is refused with 413).
#pragma once

#include <atomic>
#include <cstddef>

#include "cofcgi/runtime/cond_var.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co::cgi::detail {

class BodyBudget {
 public:
  BodyBudget(std::atomic<std::size_t>& process_total, std::size_t connection_cap,
             std::size_t process_cap)
      : process_total_(process_total), connection_cap_(connection_cap), process_cap_(process_cap) {}
  ~BodyBudget() { release(held_); }
  BodyBudget(const BodyBudget&) = delete;
  BodyBudget& operator=(const BodyBudget&) = delete;

  void take(std::size_t n);
  // release gives bytes back and wakes a reader waiting for room.
  void release(std::size_t n);
  // over: the connection must not read more now.
  bool over() const;
  // lift/unlift: a handler that must have its whole body before it answers (its first
  // flush: nginx stops sending the body once it has a response header) takes its body's
  // bytes out of the connection's cap while it waits (each such body is bounded by max_body,
  // all by the process's cap, which still holds).
  void lift(std::size_t n) { lifted_ += n; }
  void unlift(std::size_t n) { lifted_ -= n; }
  std::size_t held() const { return held_; }
  // wait_for_room parks the reader until release() or wake(); false at the deadline.
  bool wait_for_room(co::Deadline deadline) { return room_.wait_until(deadline); }
  void wake() { room_.notify_all(); }

 private:
  std::atomic<std::size_t>& process_total_;
  std::size_t connection_cap_;
  std::size_t process_cap_;
  std::size_t held_ = 0;
  std::size_t lifted_ = 0;
  co::CondVar room_;
};

}  // namespace co::cgi::detail
