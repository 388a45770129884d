// A connection's reader: records in through the codec, each record to its request, replies
// to management records batched, and the read itself bounded three ways: per wake-up (it
// yields after max_records_per_wakeup records, so a peer that never stops sending cannot
// hold the thread), by the body budget (it stops reading while buffered bodies are over
// their caps), and in time (every wait has a deadline: idle, record, params, body).
#include "connection_reader.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cofcgi/cgi/params.h"
#include "cofcgi/cgi/record.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "management_records.h"
#include "request_runner.h"
#include "server_state.h"
#include "status_monitor.h"
#include "thread_context.h"

namespace co::cgi::detail {
namespace {

constexpr std::size_t kMaxBatchedReplies = 64 * 1024;

class ConnectionReader {
 public:
  explicit ConnectionReader(Connection& conn)
      : conn_(conn), server_(conn.thread().server), options_(server_.options) {}
  void run();

 private:
  bool handle_pending();
  bool should_end() const;
  bool read_more();
  bool park_on_socket();
  bool wait_for_body_room();
  bool refuse_whole_body_waits();
  bool flush_replies();
  co::Deadline next_deadline(co::Deadline now) const;
  bool deadline_expired();

  bool on_record(const Record& r);
  bool on_begin(const Record& r);
  bool on_params(RequestState& req, std::string_view content);
  bool finish_params(RequestState& req);
  bool on_stdin(RequestState& req, std::string_view content);
  void on_abort(RequestState& req);

  Connection& conn_;
  ServerState& server_;
  const ServerOptions& options_;
  // Bytes read and not parsed yet: empty (and unallocated) between records, which is where
  // a kept connection waits nearly all the time.
  std::vector<char> pending_;
  co::Deadline partial_since_ = 0;  // when the partial record in pending_ began
  co::Deadline idle_since_ = 0;     // when the reader first parked with nothing in flight
  std::string replies_;             // answers batched until the reader parks or yields
  std::size_t records_since_park_ = 0;
  // handle_pending stopped with a whole record still unparsed (its share of this wake-up
  // used, or replies to flush first): nothing more is read until it is handled, so pending_
  // stays within one read and one record.
  bool whole_record_pending_ = false;
};

void ConnectionReader::run() {
  for (;;) {
    conn_.clear_wake();
    if (!handle_pending() || !flush_replies() || should_end()) return;
    // Checked on every pass, not only when a wait times out: a peer that keeps sending
    // something (a management record now and then) must not keep a deadline from passing.
    if (deadline_expired()) return;
    if (records_since_park_ >= options_.max_records_per_wakeup || whole_record_pending_) {
      records_since_park_ = 0;
      co::yield();  // others on this thread run; then go on with what is pending
      continue;
    }
    if (conn_.budget().over()) {
      if (!wait_for_body_room()) return;
      continue;
    }
    if (!read_more()) return;
  }
}

// handle_pending parses the whole records read so far, up to this wake-up's share; false
// closes the connection.
bool ConnectionReader::handle_pending() {
  std::size_t offset = 0;
  bool ok = true;
  whole_record_pending_ = false;
  for (;;) {
    Record record;
    const ParseResult parsed =
        parse_record(pending_.data() + offset, pending_.size() - offset, &record);
    if (parsed.status == ParseStatus::bad_version) {
      conn_.thread().protocol_log.warn("fastcgi: not a FastCGI 1 record; closing the connection");
      return false;
    }
    if (parsed.status == ParseStatus::incomplete) break;
    if (records_since_park_ >= options_.max_records_per_wakeup ||
        replies_.size() >= kMaxBatchedReplies) {
      whole_record_pending_ = true;
      break;
    }
    ++records_since_park_;
    ok = on_record(record);
    offset += parsed.consumed;
    if (!ok) break;
  }
  if (offset == pending_.size()) {
    std::vector<char>().swap(pending_);  // give the memory back while we wait
  } else if (offset > 0) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(offset));
  }
  if (pending_.empty()) {
    partial_since_ = 0;
  } else if (offset > 0 || partial_since_ == 0) {
    partial_since_ = co::now_ns();
  }
  return ok && flush_replies();
}

bool ConnectionReader::flush_replies() {
  if (replies_.empty()) return true;
  const bool sent = conn_.send_own(replies_);
  replies_.clear();
  if (replies_.capacity() > kMaxBatchedReplies) std::string().swap(replies_);
  return sent;
}

bool ConnectionReader::should_end() const {
  switch (conn_.state()) {
    case Connection::State::broken: return true;
    case Connection::State::closing:
      if (conn_.quiet() && pending_.empty()) return true;
      break;
    case Connection::State::open: break;
  }
  // Draining: requests alive finish; STDIN the web server still owes to answered requests is
  // not waited for (those requests are over).
  return conn_.thread().refusing_requests() && conn_.alive() == 0;
}

// read_more reads what the socket has (parking until it has something, or a deadline); false
// ends the connection.
bool ConnectionReader::read_more() {
  // The last read left the socket empty and no edge came since: a recv now would only say
  // EAGAIN (one syscall per request saved); park at once.
  if (co::fd_known_not_ready(conn_.fd(), POLLIN)) return park_on_socket();
  std::vector<char>& scratch = conn_.thread().read_scratch;
  const ssize_t n = ::recv(conn_.fd(), scratch.data(), scratch.size(), MSG_DONTWAIT);
  if (n > 0) {
    // Copied out before anything can switch to another reader of this thread.
    pending_.insert(pending_.end(), scratch.data(), scratch.data() + n);
    idle_since_ = 0;
    // A short read of a stream socket emptied it of data. Its end or an urgent mark may be
    // there already: the netpoller keeps no note once it saw one.
    if (static_cast<std::size_t>(n) < scratch.size()) co::note_fd_not_ready(conn_.fd(), POLLIN);
    return true;  // handle_pending stamps partial_since_ if a partial record is left
  }
  if (n == 0) return false;  // the web server closed
  if (errno == EINTR) return true;
  if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
  return park_on_socket();
}

bool ConnectionReader::park_on_socket() {
  records_since_park_ = 0;
  if (conn_.wake_requested()) return true;
  co::WakeReason reason = co::WakeReason::notified;
  conn_.set_reader_wait(Connection::ReaderWait::socket);
  const co::Deadline now = co::now_ns();
  const bool idle = conn_.active().empty() && pending_.empty();
  if (!idle)
    idle_since_ = 0;
  else if (idle_since_ == 0)
    idle_since_ = now;
  const int rc = co::wait_fd(conn_.fd(), POLLIN, next_deadline(now), &reason);
  conn_.set_reader_wait(Connection::ReaderWait::none);
  if (rc != 0 || reason == co::WakeReason::closed) return false;
  if (reason == co::WakeReason::timeout) return !deadline_expired();
  return true;
}

// The connection holds too much unread body: read nothing until handlers read theirs. The
// time spent here does not count against the web server's body deadlines. A handler waiting
// for its whole body (its first flush) lifts the connection's cap; when the process's cap
// stops the reader even so, nobody can make room: those bodies are refused (413).
bool ConnectionReader::wait_for_body_room() {
  records_since_park_ = 0;
  conn_.set_reader_wait(Connection::ReaderWait::budget);
  while (conn_.budget().over() && !conn_.wake_requested() && !should_end()) {
    if (refuse_whole_body_waits()) break;
    conn_.budget().wait_for_room(co::kNoDeadline);
  }
  conn_.set_reader_wait(Connection::ReaderWait::none);
  const co::Deadline now = co::now_ns();
  for (const auto& [id, req] : conn_.active()) req->body_activity_ns = now;
  if (partial_since_ != 0) partial_since_ = now;
  return true;
}

// refuse_whole_body_waits: true when it refused a body.
bool ConnectionReader::refuse_whole_body_waits() {
  bool refused = false;
  for (const auto& [id, req] : conn_.active()) {
    if (!req->body.waiting_for_whole() || !req->body.receiving()) continue;
    refused = true;
    conn_.thread().protocol_log.warn(
        "fastcgi: request %u waits for its whole body but max_buffered_body (%zu bytes) is "
        "reached; answered 413",
        id, options_.max_buffered_body);
    req->body.mark_over_limit();
  }
  return refused;
}

// next_deadline: the earliest deadline of the connection, as of `now`.
co::Deadline ConnectionReader::next_deadline(co::Deadline now) const {
  auto after = [](co::Deadline from, std::chrono::milliseconds ms) {
    return from + std::chrono::duration_cast<std::chrono::nanoseconds>(ms).count();
  };
  co::Deadline deadline = co::kNoDeadline;
  if (partial_since_ != 0) deadline = after(partial_since_, options_.record_timeout);
  for (const auto& [id, req] : conn_.active()) {
    deadline = std::min(deadline, req->params_deadline);
    if (req->phase != RequestPhase::reading_params && req->body.receiving()) {
      deadline = std::min(deadline, after(req->body_activity_ns, options_.body_timeout));
    }
  }
  // Idle: nothing in flight since idle_since_. Busy: look again after idle_timeout anyway,
  // as the requests may end meanwhile (nothing wakes the reader for that), so a connection
  // is closed between one and two idle_timeouts after its last request.
  const co::Deadline idle_from = idle_since_ != 0 ? idle_since_ : now;
  deadline = std::min(deadline, after(idle_from, options_.idle_timeout));
  return deadline;
}

// deadline_expired: whether a deadline passed (logged; the connection then ends). After a
// wait timed out it may not have: the wait then only starts again.
bool ConnectionReader::deadline_expired() {
  const co::Deadline now = co::now_ns();
  if (next_deadline(now) > now) return false;
  if (partial_since_ != 0) {
    conn_.thread().protocol_log.warn("fastcgi: a record was not complete within %lld ms; closing",
                                     static_cast<long long>(options_.record_timeout.count()));
  } else if (!conn_.active().empty()) {
    conn_.thread().protocol_log.warn(
        "fastcgi: a request's params (%lld ms) or body (%lld ms between parts) did not arrive "
        "in time; closing",
        static_cast<long long>(options_.params_timeout.count()),
        static_cast<long long>(options_.body_timeout.count()));
  }
  return true;
}

bool ConnectionReader::on_record(const Record& r) {
  if (r.is_management()) {
    if (append_management_answer(r, options_, replies_)) return true;
    conn_.thread().protocol_log.warn("fastcgi: malformed GET_VALUES; closing the connection");
    return false;
  }
  if (r.type == static_cast<std::uint8_t>(RecordType::begin_request)) return on_begin(r);
  if (r.type == 0 || r.type > kMaxKnownType) {
    append_unknown_type(r.type, replies_);
    return true;
  }
  RequestState* req = conn_.find(r.request_id);
  if (req == nullptr) {
    // The spec: ignore records of inactive ids. The end of the STDIN of a request answered
    // early is noted: the connection may close now.
    if (r.type == static_cast<std::uint8_t>(RecordType::stdin_stream) && r.content.empty()) {
      conn_.stdin_ended(r.request_id);
    }
    return true;
  }
  switch (static_cast<RecordType>(r.type)) {
    case RecordType::params: return on_params(*req, r.content);
    case RecordType::stdin_stream: return on_stdin(*req, r.content);
    case RecordType::abort_request: on_abort(*req); return true;
    case RecordType::data: return true;  // FILTER's data stream: not served
    default:
      conn_.thread().protocol_log.warn("fastcgi: record type %u sent to the application; closing",
                                       r.type);
      return false;
  }
}

bool ConnectionReader::on_begin(const Record& r) {
  BeginRequest begin;
  if (!parse_begin_request(r.content, &begin)) {
    conn_.thread().protocol_log.warn("fastcgi: BEGIN_REQUEST with a %zu-byte body; closing",
                                     r.content.size());
    return false;
  }
  if (conn_.find(r.request_id) != nullptr) {
    conn_.thread().protocol_log.warn(
        "fastcgi: BEGIN_REQUEST for request %u already active; closing", r.request_id);
    return false;
  }
  conn_.stdin_ended(r.request_id);  // the id is reused: its old stream is over
  if (!begin.keep_conn()) conn_.close_when_quiet();
  ProtocolStatus refusal = ProtocolStatus::request_complete;
  if (begin.role != Role::responder) {
    refusal = ProtocolStatus::unknown_role;  // AUTHORIZER and FILTER are not served
  } else if (conn_.alive() >= options_.max_requests_per_connection_in_flight) {
    refusal = ProtocolStatus::cant_mpx_conn;  // aborted handlers still running count too
  } else if (server_.requests_in_flight.load(std::memory_order_relaxed) >=
                 options_.max_requests_in_flight ||
             conn_.thread().refusing_requests()) {
    refusal = ProtocolStatus::overloaded;
  }
  if (refusal == ProtocolStatus::overloaded) {
    count(server_.monitor, &WorkerCounters::rejected_requests);  // the status page's
    conn_.thread().overload_log.warn(
        "fastcgi: %s; request answered FCGI_OVERLOADED",
        conn_.thread().refusing_requests() ? "draining" : "max_requests_in_flight reached");
  }
  if (refusal != ProtocolStatus::request_complete) {
    append_end_request(r.request_id, refusal, replies_);
    return true;
  }
  RequestState& req = conn_.add_request(r.request_id);
  // Handing over to another process: this request is served, then the connection closes.
  if (conn_.thread().draining()) conn_.close_after_requests();
  req.keep_conn = begin.keep_conn();
  req.params_deadline = co::deadline_after(options_.params_timeout);
  req.started_ns = co::now_ns();
  return true;
}

bool ConnectionReader::on_params(RequestState& req, std::string_view content) {
  if (req.phase != RequestPhase::reading_params) return true;  // a stray record after the end
  if (content.empty()) return finish_params(req);
  if (req.rejection != Rejection::none) return true;
  if (req.params_bytes.size() + content.size() > options_.max_params_bytes ||
      !req.params_charge.try_take(content.size(), options_.max_buffered_params)) {
    req.rejection = Rejection::params_too_large;
    std::string().swap(req.params_bytes);
    req.params_charge.release();
  } else {
    req.params_bytes.append(content);
  }
  return true;
}

// A body announced bigger than the limit is refused before the handler runs.
bool announced_body_too_large(const Params& params, std::size_t max_body) {
  for (const auto& [name, value] : params) {
    if (name != "CONTENT_LENGTH") continue;
    std::size_t length = 0;
    for (char c : value) {
      if (c < '0' || c > '9' || length > max_body) break;
      length = length * 10 + static_cast<std::size_t>(c - '0');
    }
    if (length > max_body) return true;
  }
  return false;
}

bool ConnectionReader::finish_params(RequestState& req) {
  req.params_deadline = co::kNoDeadline;
  if (req.rejection == Rejection::none) {
    ParamsReader reader(req.params_bytes);
    std::string_view name, value;
    PairStatus status;
    while ((status = reader.next(&name, &value)) == PairStatus::pair) {
      if (req.params.size() >= options_.max_params) {
        req.rejection = Rejection::params_too_large;
        break;
      }
      req.params.emplace_back(name, value);
    }
    if (status == PairStatus::truncated) {
      conn_.thread().protocol_log.warn(
          "fastcgi: malformed name-value pair in PARAMS of request %u; closing", req.id);
      return false;
    }
  }
  if (req.rejection == Rejection::none && announced_body_too_large(req.params, options_.max_body)) {
    req.rejection = Rejection::body_too_large;
  }
  req.body_activity_ns = co::now_ns();
  start_request(conn_, req);
  return true;
}

// STDIN before the end of PARAMS is refused: no web server sends it, and those bytes would
// count in the body budget with no handler yet to read them (the reader would stop reading
// for good, the end of PARAMS unread: found by connection_fuzz).
bool ConnectionReader::on_stdin(RequestState& req, std::string_view content) {
  if (req.phase == RequestPhase::reading_params) {
    conn_.thread().protocol_log.warn(
        "fastcgi: STDIN for request %u before the end of its PARAMS; closing", req.id);
    return false;
  }
  req.body_activity_ns = co::now_ns();
  if (content.empty()) {
    req.body.end();
  } else {
    req.body.append(content);
  }
  return true;
}

// ABORT_REQUEST is answered with END_REQUEST at once (the spec asks for it; a handler may be
// stuck in a long call and only notice at its next I/O). A request whose handler has not
// started is dropped; a running one is detached from its id, so that the web server may
// reuse the id, and its handler gets RequestAborted at its next read or write. Its handler
// still counts against the connection's cap until it returns.
void ConnectionReader::on_abort(RequestState& req) {
  const std::uint16_t id = req.id;
  req.body.abandon();
  if (req.phase == RequestPhase::reading_params) {
    req.move_to(RequestPhase::ended);
    conn_.remove(req);
  } else if (req.phase == RequestPhase::running) {
    req.move_to(RequestPhase::aborted);
    conn_.detach(req);
  } else {
    return;  // finishing: its END_REQUEST is on the way anyway
  }
  append_end_request(id, ProtocolStatus::request_complete, replies_);
}

}  // namespace

void serve_connection(Connection& conn) {
  ConnectionReader(conn).run();
  conn.abort_all();
  conn.handlers().wait();
}

}  // namespace co::cgi::detail
