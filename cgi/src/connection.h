// Connection: one FastCGI connection from the web server. Owned (unique_ptr) by its thread's
// ThreadContext; owns its socket, its requests, its write lock and its body budget. Its
// reader coroutine (connection_reader.cpp) feeds it records; handler coroutines reach it
// only as a RecordSink (send records) and through their request's BodyStream.
//
//   open --FCGI_KEEP_CONN clear, per-connection request limit, drain--> closing
//   open/closing --write failed, response cut short, bad input, timeout--> broken
// A closing connection ends once quiet (no request alive, no STDIN still to come); a broken
// one at once: its requests are aborted and their handlers awaited.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "body_budget.h"
#include "cofcgi/runtime/mutex.h"
#include "cofcgi/runtime/unique_fd.h"
#include "cofcgi/runtime/wait_group.h"
#include "request_state.h"

namespace co::cgi::detail {

struct ThreadContext;
struct ServerState;

class Connection final : public RecordSink {
 public:
  enum class State : std::uint8_t { open, closing, broken };

  Connection(co::UniqueFd fd, ThreadContext& thread);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_.get(); }
  ThreadContext& thread() const { return thread_; }
  const ServerState& server() const;
  BodyBudget& budget() { return budget_; }
  co::WaitGroup& handlers() { return handlers_; }

  // RecordSink: the doors of a running request.
  bool send(RequestState& request, const ResponsePart& part) override;
  void cut_short(RequestState& request) override;
  // send_own writes records that belong to no running request (management answers, the
  // END_REQUEST of a refused request).
  bool send_own(std::string_view records);

  // Requests by id. add_request makes one in reading_params; detach frees the id of an
  // aborted request whose handler still runs (the web server may reuse it); remove forgets
  // a request whose handler is over, or that never got one.
  RequestState* find(std::uint16_t id) const;
  RequestState& add_request(std::uint16_t id);
  void detach(RequestState& request);
  void remove(RequestState& request);
  // alive counts every request with an id or a handler: the per-connection cap.
  std::size_t alive() const { return owned_.size(); }
  const std::map<std::uint16_t, RequestState*>& active() const { return by_id_; }
  // abort_all: the connection is ending; requests without a handler go, running ones are
  // told (RequestAborted at their next I/O).
  void abort_all();

  // STDIN streams the web server has not finished although their requests were answered
  // (a handler that ignored the body, a 413): the connection stays until they end, or the
  // web server's next write would fail (nginx answers 502, cgi-fcgi exits with EPIPE).
  // Capped at max_requests_per_connection_in_flight: a web server that leaves more streams
  // unfinished is broken off (each id costs memory, and the connection never gets quiet).
  void expect_stdin_end(std::uint16_t id);
  void stdin_ended(std::uint16_t id) { unfinished_stdin_.erase(id); }
  bool quiet() const { return owned_.empty() && unfinished_stdin_.empty(); }

  State state() const { return state_; }
  void close_when_quiet();
  // close_after_requests: a worker hands over: the requests alive finish, then the connection
  // closes. Output is corked (TCP) from now on, so the last END_REQUEST and the FIN leave in
  // one segment: nginx sees the end as it reads the response and never takes the connection
  // from its keepalive cache again (it would write a request nobody reads: a failed attempt).
  void close_after_requests();
  void break_off();
  // wake_reader makes the reader look at the connection's state again (it may end now).
  void wake_reader();
  // The reader tells where it parks, so wake_reader knows how to reach it.
  enum class ReaderWait : std::uint8_t { none, socket, budget };
  void set_reader_wait(ReaderWait where) { reader_wait_ = where; }
  bool wake_requested() const { return wake_requested_; }
  void clear_wake() { wake_requested_ = false; }

  std::size_t served = 0;  // requests whose handler ended

 private:
  bool write_locked(std::string_view bytes);
  co::UniqueFd fd_;
  ThreadContext& thread_;
  State state_ = State::open;
  co::Mutex write_mutex_;  // records of concurrent requests interleave whole
  BodyBudget budget_;
  // owned_ holds every request alive; by_id_ the ones whose id is in use.
  std::vector<std::unique_ptr<RequestState>> owned_;
  std::map<std::uint16_t, RequestState*> by_id_;
  std::set<std::uint16_t> unfinished_stdin_;
  co::WaitGroup handlers_;
  ReaderWait reader_wait_ = ReaderWait::none;
  bool wake_requested_ = false;
};

}  // namespace co::cgi::detail
