// A connection's life: read records through the codec, keep the state of its requests,
// start each request's handler in its own coroutine once its params are complete, answer
// management records, and close on malformed input or when FCGI_KEEP_CONN says so.
#include "connection.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "cofcgi/cgi/params.h"
#include "cofcgi/cgi/record.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "io.h"
#include "request_runner.h"

namespace co::cgi::detail {
namespace {

using std::chrono::milliseconds;

co::Deadline after(milliseconds ms) { return co::deadline_after(ms); }

class ConnectionReader {
 public:
  ConnectionReader(Connection& conn, Server::Impl& server) : conn_(conn), server_(server) {}
  void run();

 private:
  // One record; false closes the connection.
  bool on_record(const Record& r);
  bool on_management(const Record& r);
  bool on_begin(const Record& r);
  bool on_params(RequestState& req, std::string_view content);
  void on_stdin(RequestState& req, std::string_view content);
  bool on_abort(RequestState& req);
  bool answer_end(std::uint16_t id, ProtocolStatus status);
  co::Deadline next_deadline() const;

  Connection& conn_;
  Server::Impl& server_;
};

bool ConnectionReader::answer_end(std::uint16_t id, ProtocolStatus status) {
  char record[kEndRequestSize];
  write_end_request(record, id, 0, status);
  return conn_.write_all(record, sizeof record);
}

bool ConnectionReader::on_management(const Record& r) {
  if (r.type != static_cast<std::uint8_t>(RecordType::get_values)) {
    char record[kUnknownTypeSize];
    write_unknown_type(record, r.type);
    return conn_.write_all(record, sizeof record);
  }
  // GET_VALUES: answer the variables we know, from the real settings.
  const ServerOptions& o = server_.options;
  const std::string max_conns = std::to_string(o.max_connections);
  const std::string max_reqs = std::to_string(o.max_requests_in_flight);
  char body[1024];
  std::size_t used = 0;
  ParamsReader reader(r.content);
  std::string_view name, value;
  PairStatus status;
  while ((status = reader.next(&name, &value)) == PairStatus::pair) {
    std::string_view answer;
    if (name == "FCGI_MAX_CONNS") answer = max_conns;
    else if (name == "FCGI_MAX_REQS") answer = max_reqs;
    else if (name == "FCGI_MPXS_CONNS") answer = "1";
    else continue;  // the spec: unknown names are left out of the answer
    used += write_pair(body + used, sizeof body - used, name, answer);
  }
  if (status == PairStatus::truncated) {
    co::log_printf(co::LogLevel::warning, "fastcgi: malformed GET_VALUES; closing the connection");
    return false;
  }
  char record[kHeaderSize + sizeof body + 8];
  const std::uint8_t padding = padding_for(used);
  write_header(record, RecordType::get_values_result, 0, static_cast<std::uint16_t>(used), padding);
  std::memcpy(record + kHeaderSize, body, used);
  std::memset(record + kHeaderSize + used, 0, padding);
  return conn_.write_all(record, kHeaderSize + used + padding);
}

bool ConnectionReader::on_begin(const Record& r) {
  BeginRequest begin;
  if (!parse_begin_request(r.content, &begin)) {
    co::log_printf(co::LogLevel::warning, "fastcgi: BEGIN_REQUEST with a %zu-byte body; closing", r.content.size());
    return false;
  }
  if (conn_.requests.count(r.request_id) != 0) {
    co::log_printf(co::LogLevel::warning, "fastcgi: BEGIN_REQUEST for request %u already active; closing",
                   r.request_id);
    return false;
  }
  conn_.unfinished_stdin.erase(r.request_id);  // the id is reused: its old stream is over
  if (!begin.keep_conn()) conn_.close_after_requests = true;
  if (begin.role != Role::responder) {
    // AUTHORIZER and FILTER are not served: say so, as the spec asks.
    return answer_end(r.request_id, ProtocolStatus::unknown_role);
  }
  const ServerOptions& o = server_.options;
  if (conn_.requests.size() >= o.max_requests_per_connection_in_flight) {
    return answer_end(r.request_id, ProtocolStatus::cant_mpx_conn);
  }
  if (server_.requests_in_flight.load(std::memory_order_relaxed) >= o.max_requests_in_flight ||
      conn_.thread->draining) {
    co::log_printf(co::LogLevel::warning, "fastcgi: %s; request %u answered FCGI_OVERLOADED",
                   conn_.thread->draining ? "draining" : "too many requests in flight", r.request_id);
    return answer_end(r.request_id, ProtocolStatus::overloaded);
  }
  auto req = std::make_unique<RequestState>();
  req->conn = &conn_;
  req->id = r.request_id;
  req->keep_conn = begin.keep_conn();
  req->params_deadline = after(o.params_timeout);
  req->started_ns = co::now_ns();
  server_.requests_in_flight.fetch_add(1, std::memory_order_relaxed);
  conn_.requests.emplace(r.request_id, std::move(req));
  return true;
}

bool ConnectionReader::on_params(RequestState& req, std::string_view content) {
  if (req.params_done) return true;  // a stray record after the end: ignore
  if (!content.empty()) {
    if (req.rejection == Rejection::none) {
      if (req.params_bytes.size() + content.size() > server_.options.max_params_bytes) {
        req.rejection = Rejection::params_too_large;
        req.params_bytes.clear();
        req.params_bytes.shrink_to_fit();
      } else {
        req.params_bytes.append(content);
      }
    }
    return true;
  }
  req.params_done = true;
  req.params_deadline = co::kNoDeadline;
  if (req.rejection == Rejection::none) {
    ParamsReader reader(req.params_bytes);
    std::string_view name, value;
    PairStatus status;
    while ((status = reader.next(&name, &value)) == PairStatus::pair) {
      if (req.params.size() >= server_.options.max_params) {
        req.rejection = Rejection::params_too_large;
        break;
      }
      req.params.emplace_back(name, value);
    }
    if (status == PairStatus::truncated) {
      co::log_printf(co::LogLevel::warning, "fastcgi: malformed name-value pair in PARAMS of request %u; closing",
                     req.id);
      return false;
    }
  }
  if (req.rejection == Rejection::none) {
    // A body announced bigger than the limit is refused before the handler runs.
    for (const auto& [name, value] : req.params) {
      if (name != "CONTENT_LENGTH") continue;
      std::size_t length = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || length > server_.options.max_body) break;
        length = length * 10 + static_cast<std::size_t>(c - '0');
      }
      if (length > server_.options.max_body) req.rejection = Rejection::body_too_large;
    }
  }
  start_request(req, server_);
  return true;
}

void ConnectionReader::on_stdin(RequestState& req, std::string_view content) {
  if (req.stdin_done) return;
  if (content.empty()) {
    req.stdin_done = true;
  } else {
    req.stdin_total += content.size();
    if (req.stdin_total > server_.options.max_body) {
      // Keep the stream in step but stop storing: the handler gets BodyTooLarge.
      if (req.rejection == Rejection::none) req.rejection = Rejection::body_too_large;
      req.stdin_pending.clear();
      req.stdin_read = 0;
    } else {
      req.stdin_pending.append(content);
    }
  }
  req.stdin_ready.notify_all();
}

// ABORT_REQUEST is answered with END_REQUEST at once (the spec asks for it; a handler may be
// stuck in a long call and only notice at its next I/O). A request whose handler has not
// started is simply dropped; a running one is detached from its id, so that the web server
// may reuse the id, and its handler gets RequestAborted at its next read or write.
bool ConnectionReader::on_abort(RequestState& req) {
  req.aborted = true;
  req.stdin_ready.notify_all();
  if (req.finishing || req.end_sent) return true;  // its END_REQUEST is on the way anyway
  const std::uint16_t id = req.id;
  auto it = conn_.requests.find(id);
  if (!req.started) {
    conn_.requests.erase(it);  // destroys req
    server_.requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
  } else {
    req.end_sent = true;
    conn_.detached.push_back(std::move(it->second));
    conn_.requests.erase(it);
  }
  return answer_end(id, ProtocolStatus::request_complete);
}

bool ConnectionReader::on_record(const Record& r) {
  if (r.is_management()) return on_management(r);
  if (r.type == static_cast<std::uint8_t>(RecordType::begin_request)) return on_begin(r);
  auto it = conn_.requests.find(r.request_id);
  if (r.type == 0 || r.type > kMaxKnownType) {
    char record[kUnknownTypeSize];
    write_unknown_type(record, r.type);
    return conn_.write_all(record, sizeof record);
  }
  if (it == conn_.requests.end()) {
    // The spec: ignore records of inactive ids. The end of the STDIN of a request answered
    // early is noted: the connection may close now.
    if (r.type == static_cast<std::uint8_t>(RecordType::stdin_stream) && r.content.empty()) {
      conn_.unfinished_stdin.erase(r.request_id);
    }
    return true;
  }
  RequestState& req = *it->second;
  switch (static_cast<RecordType>(r.type)) {
    case RecordType::params:
      return on_params(req, r.content);
    case RecordType::stdin_stream:
      on_stdin(req, r.content);
      return true;
    case RecordType::abort_request:
      return on_abort(req);
    case RecordType::data:
      return true;  // FILTER's data stream: not served
    default:
      // Application-to-server types coming the wrong way: malformed.
      co::log_printf(co::LogLevel::warning, "fastcgi: record type %u sent to the application; closing", r.type);
      return false;
  }
}

co::Deadline ConnectionReader::next_deadline() const {
  co::Deadline deadline = co::kNoDeadline;
  bool busy = false;
  for (const auto& [id, req] : conn_.requests) {
    busy = true;
    if (req->params_deadline < deadline) deadline = req->params_deadline;
  }
  if (!busy) deadline = after(server_.options.idle_timeout);
  return deadline;
}

void ConnectionReader::run() {
  // The bytes read and not yet parsed: empty (and unallocated) between records, which is
  // where a kept connection waits nearly all the time, so that hundreds of them parked in
  // read cost no buffer each. Reads land in the thread's scratch buffer and are appended
  // here at once, before anything can switch to another reader of the thread.
  std::vector<char> pending;
  std::vector<char>& scratch = conn_.thread->read_scratch;
  for (;;) {
    // Parse every whole record read so far.
    std::size_t offset = 0;
    for (;;) {
      Record record;
      const ParseResult parsed = parse_record(pending.data() + offset, pending.size() - offset, &record);
      if (parsed.status == ParseStatus::bad_version) {
        co::log_printf(co::LogLevel::warning, "fastcgi: not a FastCGI 1 record; closing the connection");
        return;
      }
      if (parsed.status == ParseStatus::incomplete) break;
      if (!on_record(record)) return;
      offset += parsed.consumed;
    }
    if (offset == pending.size()) {
      std::vector<char>().swap(pending);  // give the memory back while we wait
    } else if (offset > 0) {
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(offset));
    }
    if (conn_.broken) return;
    if (conn_.close_after_requests && conn_.quiet() && pending.empty()) return;
    if (conn_.thread->draining && conn_.quiet()) return;

    conn_.reading = true;
    const ssize_t n = read_some(conn_.fd, scratch.data(), scratch.size(), next_deadline());
    conn_.reading = false;
    if (n == 0) return;  // the web server closed
    if (n < 0) {
      if (errno == EAGAIN) {
        if (conn_.requests.empty()) return;  // idle timeout
        for (const auto& [id, req] : conn_.requests) {
          if (req->params_deadline <= co::now_ns()) {
            co::log_printf(co::LogLevel::warning, "fastcgi: request %u sent no complete params in %lld ms; closing",
                           id, static_cast<long long>(server_.options.params_timeout.count()));
            return;
          }
        }
        continue;
      }
      return;  // reset by peer, or woken by the drain
    }
    pending.insert(pending.end(), scratch.data(), scratch.data() + n);
  }
}

}  // namespace

bool Connection::write_all(const char* data, std::size_t size, const RequestState* req) {
  if (broken) return false;
  std::lock_guard<co::Mutex> lock(write_mutex);
  if (broken || (req != nullptr && req->end_sent)) return false;
  const co::Deadline deadline = co::deadline_after(thread->server->options.write_timeout);
  if (!write_fully(fd, data, size, deadline)) {
    broken = true;
    return false;
  }
  return true;
}

void Connection::remove_request(const RequestState* req) {
  if (!req->stdin_done && !req->aborted) unfinished_stdin.insert(req->id);
  auto it = requests.find(req->id);
  if (it != requests.end() && it->second.get() == req) {
    requests.erase(it);
    return;
  }
  for (auto d = detached.begin(); d != detached.end(); ++d) {
    if (d->get() == req) {
      detached.erase(d);
      return;
    }
  }
}

void serve_connection(Connection& conn) {
  Server::Impl& server = *conn.thread->server;
  ConnectionReader(conn, server).run();
  // Requests whose params never completed have no handler: they end here (and stop counting
  // as in flight). Handlers still running: tell them the request is gone, wait for them.
  for (auto it = conn.requests.begin(); it != conn.requests.end();) {
    RequestState& req = *it->second;
    if (!req.started) {
      server.requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
      it = conn.requests.erase(it);
      continue;
    }
    req.aborted = true;
    req.stdin_ready.notify_all();
    ++it;
  }
  conn.handlers.wait();
}

}  // namespace co::cgi::detail
