#include "connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>

#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "io.h"
#include "server_state.h"
#include "thread_context.h"

namespace co::cgi::detail {

Connection::Connection(co::UniqueFd fd, ThreadContext& thread)
    : fd_(std::move(fd)),
      thread_(thread),
      budget_(thread.server.buffered_body, thread.server.options.max_buffered_body_per_connection,
              thread.server.options.max_buffered_body) {}

// Requests go before the budget their bodies count in (members are destroyed in reverse).
Connection::~Connection() {
  by_id_.clear();
  owned_.clear();
}

const ServerState& Connection::server() const { return thread_.server; }

bool Connection::write_locked(std::string_view bytes) {
  const co::Deadline deadline = co::deadline_after(server().options.write_timeout);
  if (write_fully(fd_.get(), FdKind::socket, bytes, deadline)) return true;
  break_off();
  return false;
}

bool Connection::send(RequestState& request, const ResponsePart& part) {
  if (state_ == State::broken || request.aborted()) return false;
  std::lock_guard<co::Mutex> lock(write_mutex_);
  // Checked again: the request may have been aborted while this write waited for the lock.
  if (state_ == State::broken || request.aborted()) return false;
  // One write_timeout for the whole part, as for one write; each batch is one sendmsg.
  const co::Deadline deadline = co::deadline_after(server().options.write_timeout);
  StdoutFrames frames(request.id, part);
  while (!frames.done()) {
    const std::span<iovec> batch = frames.next();
    if (!write_fully(fd_.get(), FdKind::socket, batch.data(), batch.size(), deadline)) {
      break_off();
      return false;
    }
  }
  return true;
}

bool Connection::send_own(std::string_view records) {
  if (state_ == State::broken) return false;
  std::lock_guard<co::Mutex> lock(write_mutex_);
  if (state_ == State::broken) return false;
  return write_locked(records);
}

void Connection::cut_short(RequestState& request) {
  co::log_printf(
      co::LogLevel::error,
      "fastcgi: the response to request %u (%s) was cut short after %zu body bytes; closing "
      "the connection without END_REQUEST so the web server sees it incomplete",
      request.id, request.label.c_str(), request.bytes_out);
  if (request.phase == RequestPhase::running) request.move_to(RequestPhase::aborted);
  break_off();
}

void Connection::expect_stdin_end(std::uint16_t id) {
  unfinished_stdin_.insert(id);
  if (unfinished_stdin_.size() <= server().options.max_requests_per_connection_in_flight) return;
  thread_.protocol_log.warn(
      "fastcgi: %zu answered requests whose STDIN never ended on one connection; closing it",
      unfinished_stdin_.size());
  break_off();
}

RequestState* Connection::find(std::uint16_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

RequestState& Connection::add_request(std::uint16_t id) {
  owned_.push_back(std::make_unique<RequestState>(*this, budget_, id, server().options.max_body,
                                                  &thread_.server.buffered_params));
  RequestState& request = *owned_.back();
  by_id_[id] = &request;
  return request;
}

void Connection::detach(RequestState& request) {
  const auto it = by_id_.find(request.id);
  if (it != by_id_.end() && it->second == &request) by_id_.erase(it);
}

void Connection::remove(RequestState& request) {
  if (!request.body.web_server_done() && state_ != State::broken) expect_stdin_end(request.id);
  detach(request);
  const auto it = std::find_if(owned_.begin(), owned_.end(),
                               [&](const auto& r) { return r.get() == &request; });
  if (it != owned_.end()) owned_.erase(it);
  // A draining connection's last request answered: the FIN goes now, right behind (corked:
  // with) its END_REQUEST, not when the reader next runs.
  if (state_ == State::closing && quiet() && thread_.draining()) {
    (void)::shutdown(fd_.get(), SHUT_WR);
  }
}

void Connection::abort_all() {
  std::vector<RequestState*> all;
  for (const auto& r : owned_) all.push_back(r.get());
  for (RequestState* request : all) {
    request->body.abandon();
    if (request->phase == RequestPhase::reading_params) {
      request->move_to(RequestPhase::ended);
      remove(*request);
    } else if (request->phase == RequestPhase::running) {
      request->move_to(RequestPhase::aborted);
    }
  }
}

void Connection::close_after_requests() {
  if (state_ == State::open && thread_.server.listen_is_tcp) {
    const int one = 1;
    (void)::setsockopt(fd_.get(), IPPROTO_TCP, TCP_CORK, &one, sizeof one);
  }
  close_when_quiet();
}

void Connection::close_when_quiet() {
  if (state_ == State::open) state_ = State::closing;
  if (quiet()) wake_reader();
}

void Connection::break_off() {
  if (state_ == State::broken) return;
  state_ = State::broken;
  // The reader sees EOF at once; what was written before still reaches the peer, then FIN.
  (void)::shutdown(fd_.get(), SHUT_RDWR);
  wake_reader();
}

void Connection::wake_reader() {
  wake_requested_ = true;
  if (reader_wait_ == ReaderWait::socket) co::wake_fd_readers(fd_.get());
  if (reader_wait_ == ReaderWait::budget) budget_.wake();
}

}  // namespace co::cgi::detail
