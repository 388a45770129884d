// RequestState: one FastCGI request as the server keeps it, from BEGIN_REQUEST until its
// handler is over, and RecordSink, the door through which its response leaves. Request and
// Response are views of it; the connection owns it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "body_stream.h"
#include "byte_charge.h"
#include "cofcgi/cgi/request.h"
#include "cofcgi/runtime/cancel.h"
#include "cofcgi/runtime/wait_queue.h"
#include "request_phase.h"
#include "request_registry.h"
#include "stdout_frames.h"

namespace co::cgi::detail {

struct RequestState;

// RecordSink: where a request's records go (its connection).
class RecordSink {
 public:
  // send writes a part of `request`'s response (a connection as STDOUT records, whole,
  // interleaved whole with other requests' records, END_REQUEST after the last: see
  // stdout_frames.h); false when it cannot go: the connection is gone, or the request was
  // aborted (nothing of a request may follow its END_REQUEST).
  virtual bool send(RequestState& request, const ResponsePart& part) = 0;
  // cut_short: the response cannot be completed (the handler failed after part of it went
  // out). The web server must see it incomplete, so the connection is closed without the
  // request's END_REQUEST.
  virtual void cut_short(RequestState& request) = 0;

 protected:
  ~RecordSink() = default;
};

// Why a request is answered without its handler running.
enum class Rejection : std::uint8_t { none, params_too_large, body_too_large };

struct RequestState {
  // params_total: the process's PARAMS bytes (null: not counted).
  RequestState(RecordSink& sink, BodyBudget& budget, std::uint16_t request_id, std::size_t max_body,
               std::atomic<std::size_t>* params_total = nullptr)
      : sink(sink), id(request_id), body(budget, max_body), params_charge(params_total) {}
  RequestState(const RequestState&) = delete;
  RequestState& operator=(const RequestState&) = delete;

  // move_to changes the phase along an edge of request_phase.h; anything else is a bug in
  // the server and throws std::logic_error. Moving to `aborted` cancels the handler's
  // coroutine (cofcgi/runtime/cancel.h): its current and next blocking calls fail at once.
  void move_to(RequestPhase next);
  bool aborted() const { return phase == RequestPhase::aborted; }

  RecordSink& sink;
  const std::uint16_t id;
  bool keep_conn = false;
  RequestPhase phase = RequestPhase::reading_params;
  Rejection rejection = Rejection::none;
  std::string params_bytes;  // the PARAMS stream; `params` are views into it
  Params params;
  BodyStream body;
  ByteCharge params_charge;  // params_bytes against max_buffered_params
  co::Deadline params_deadline = co::kNoDeadline;
  co::Deadline body_activity_ns = 0;  // when STDIN last arrived (for body_timeout)
  std::int64_t started_ns = 0;
  std::size_t bytes_out = 0;  // body bytes sent
  int status = 0;             // the HTTP status sent
  std::string label;          // "fastcgi request GET /uri": the handler coroutine's name
  InFlight in_flight;         // its entry in the thread's RequestRegistry while the handler runs
  co::CancelHandle handler;   // the handler's coroutine, from when it starts
  co::Deadline deadline = co::kNoDeadline;  // started_ns + request_timeout (none: no limit)
};

}  // namespace co::cgi::detail
