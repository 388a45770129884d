// BodyStream: a request's body (FastCGI STDIN) between the connection's reader, which
// appends what arrives, and the handler, which reads it. Bytes held here are counted in the
// connection's BodyBudget until the handler has read them.
//
//   receiving --empty STDIN record--> complete
//   receiving --more than max_body--> over_limit   (bytes dropped, the handler gets BodyTooLarge)
//   receiving/complete/over_limit --request aborted or connection gone--> abandoned
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "body_budget.h"
#include "cofcgi/runtime/cond_var.h"

namespace co::cgi::detail {

class BodyStream {
 public:
  enum class State : std::uint8_t { receiving, complete, over_limit, abandoned };

  BodyStream(BodyBudget& budget, std::size_t max_body) : budget_(budget), max_body_(max_body) {}
  ~BodyStream() {
    unlift();
    budget_.release(pending_.size() - read_);
  }
  BodyStream(const BodyStream&) = delete;
  BodyStream& operator=(const BodyStream&) = delete;

  // The reader's side.
  void append(std::string_view bytes);
  void end();
  void abandon();
  void mark_over_limit();

  // The handler's side. read parks until bytes are there: how many were copied, 0 at the
  // end. Throws RequestAborted (abandoned) or BodyTooLarge (over_limit).
  std::size_t read(char* buf, std::size_t n);
  // wait_until_received parks until the whole body arrived; throws BodyTooLarge when it
  // cannot be held (over max_body, or the process's body buffer is full), RequestAborted
  // when the request is gone.
  void wait_until_received();

  State state() const { return state_; }
  bool receiving() const { return state_ == State::receiving; }
  bool waiting_for_whole() const { return waiting_for_whole_; }
  // web_server_done: the web server sends no more of this stream (its empty STDIN record
  // came, or it aborted the request) -- whatever the state says about the bytes.
  bool web_server_done() const { return stream_ended_ || state_ == State::abandoned; }
  std::size_t received() const { return received_; }

 private:
  void move_to(State next);
  void drop_read_prefix();
  void unlift();
  BodyBudget& budget_;
  std::size_t max_body_;
  State state_ = State::receiving;
  std::string pending_;   // received; the handler has read up to read_
  std::size_t read_ = 0;  // consumed from the front lazily: no quadratic erase
  std::size_t received_ = 0;
  bool waiting_for_whole_ = false;  // in wait_until_received
  bool stream_ended_ = false;       // the empty STDIN record arrived
  std::size_t lifted_ = 0;          // this body's bytes lifted from the connection's cap
  co::CondVar ready_;
};

}  // namespace co::cgi::detail
