#include "request_runner.h"

#include <time.h>

#include <chrono>
#include <exception>
#include <string>

#include "cgi_environment.h"
#include "cofcgi/cgi/response.h"
#include "cofcgi/runtime/cancel.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "server_state.h"
#include "status_page.h"
#include "thread_context.h"
#include "worker.h"

namespace co::cgi::detail {
namespace {

// How a handler ended, seen from the response.
enum class Outcome { complete, failed, timed_out };

void log_handler_error(const Request& request, const char* what) {
  co::log_printf(co::LogLevel::error, "handler threw for \"%.*s %.*s\": %s",
                 static_cast<int>(request.method().size()), request.method().data(),
                 static_cast<int>(request.uri().size()), request.uri().data(), what);
}

// request_deadline: request_timeout counted from the request's start (BEGIN_REQUEST, or a
// CGI run's start); 0 is none.
co::Deadline request_deadline(const ServerOptions& o, const RequestState& req) {
  if (o.request_timeout.count() <= 0) return co::kNoDeadline;
  const co::Deadline start = req.started_ns != 0 ? req.started_ns : co::now_ns();
  return start + std::chrono::duration_cast<std::chrono::nanoseconds>(o.request_timeout).count();
}

bool past_deadline(const RequestState& req) {
  return req.deadline != co::kNoDeadline && co::now_ns() >= req.deadline;
}

// after_throw: the handler threw. Aborted, its error is the abort's doing (its calls were
// cancelled) and nothing more goes out; past the deadline it is the timeout's (504); else
// it is the handler's own: logged, and 500 if nothing was sent yet.
Outcome after_throw(RequestState& req, const Request& request, Response& response,
                    const char* what) {
  if (req.aborted()) return Outcome::complete;
  if (past_deadline(req)) return Outcome::timed_out;
  log_handler_error(request, what);
  if (response.headers_sent()) return Outcome::failed;
  response.send_error(500, "Internal Server Error\n");
  return Outcome::complete;
}

// call_handler runs the handler, turning what it throws into a response when nothing was
// sent yet; `failed` when part of a response went out and the rest cannot follow;
// `timed_out` when the request's deadline passed before a response header went out.
Outcome call_handler(const ServerState& server, RequestState& req, Request& request,
                     Response& response) {
  // Past the deadline every blocking call of the handler fails (ETIMEDOUT; cofcgi/runtime/
  // cancel.h): a stuck backend cannot hold the request, a trickled body neither.
  const auto deadline = co::DeadlineScope::until(req.deadline);
  try {
    // The status and ping paths are the server's own (status_page.h).
    if (!answer_builtin_path(server, request, response)) server.handler(request, response);
    if (past_deadline(req) && !response.headers_sent()) return Outcome::timed_out;
    const bool over_limit = req.body.state() == BodyStream::State::over_limit;
    if (over_limit && !response.headers_sent()) response.send_error(413, "Payload Too Large\n");
    return Outcome::complete;
  } catch (const RequestAborted&) {
    return Outcome::complete;  // cooperative cancellation: nothing more to send
  } catch (const BodyTooLarge&) {
    if (!response.headers_sent())
      response.send_error(413, "Payload Too Large\n");
    else
      return Outcome::failed;
  } catch (const std::exception& e) {
    return after_throw(req, request, response, e.what());
  } catch (...) {
    return after_throw(req, request, response, "something not derived from std::exception");
  }
  return Outcome::complete;
}

// answer_timeout: 504 when nothing was sent yet, else the response is cut short.
Outcome answer_timeout(const ServerOptions& o, RateLimitedLog& protocol_log,
                       const RequestState& req, Response& response) {
  const bool sent = response.headers_sent();
  protocol_log.warn("request %u (%s) ran past request_timeout (%lld ms); %s", req.id,
                    req.label.c_str(), static_cast<long long>(o.request_timeout.count()),
                    sent ? "its response is cut short" : "504");
  if (sent) return Outcome::failed;
  response.send_error(504, "Gateway Timeout\n");
  return Outcome::complete;
}

void answer_rejection(const ServerOptions& o, RateLimitedLog& protocol_log, RequestState& req,
                      Response& response) {
  // Request id 0 is never a FastCGI request's: it is the one request of a CGI run.
  const char* layer = req.id == 0 ? "cgi" : "fastcgi";
  if (req.rejection == Rejection::params_too_large) {
    protocol_log.warn("%s: request %u: params over the limit (%zu bytes, %zu params); 431", layer,
                      req.id, o.max_params_bytes, o.max_params);
    response.send_error(431, "Request Header Fields Too Large\n");
  } else {
    // Announced by CONTENT_LENGTH: the handler is not run.
    protocol_log.warn("%s: request %u: body over max_body (%zu bytes); 413", layer, req.id,
                      o.max_body);
    response.send_error(413, "Payload Too Large\n");
  }
}

void log_access(AccessLog& log, const RequestState& req, const Request& request,
                const Response& response) {
  AccessRecord r;
  r.request = &request;
  r.status = response.status();
  // Abandoned (FCGI_ABORT_REQUEST, or the web server hung up): its status was never seen.
  r.abandoned = req.phase == RequestPhase::aborted;
  r.bytes_out = req.bytes_out;
  r.duration_ns = co::now_ns() - req.started_ns;
  timespec wall{};
  clock_gettime(CLOCK_REALTIME, &wall);
  r.ended_unix_ns = static_cast<std::int64_t>(wall.tv_sec) * 1000000000 + wall.tv_nsec;
  r.started_unix_ns = r.ended_unix_ns - r.duration_ns;
  log.write(r);
}

}  // namespace

void run_handler(const ServerState& server, RateLimitedLog& protocol_log, RequestState& req) {
  // Aborting the request cancels this coroutine from now on (RequestState::move_to); one
  // aborted before its handler first ran is cancelled here.
  req.handler = co::CancelHandle::current();
  if (req.aborted()) req.handler.cancel();
  req.deadline = request_deadline(server.options, req);
  Request request(&req);
  Response response(&req);
  if (server.options.cgi_environment) export_cgi_environment(req);
  Outcome outcome = Outcome::complete;
  if (req.rejection != Rejection::none)
    answer_rejection(server.options, protocol_log, req, response);
  else
    outcome = call_handler(server, req, request, response);
  // The last write (504, END_REQUEST) must be able to wait even in a cancelled coroutine;
  // write_timeout bounds it.
  const co::CancelShield shield;
  if (outcome == Outcome::timed_out) {
    count(server.monitor, &WorkerCounters::timed_out_requests);  // the status page's
    outcome = answer_timeout(server.options, protocol_log, req, response);
  }
  if (outcome == Outcome::failed)
    req.sink.cut_short(req);
  else
    response.finish();
  if (server.access_log) log_access(*server.access_log, req, request, response);
}

namespace {

// end_request: the handler is over; the request leaves the connection.
void end_request(Connection& conn, RequestState& req) {
  req.move_to(RequestPhase::ended);
  ServerState& server = conn.thread().server;
  conn.remove(req);  // destroys req
  server.requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
  count_request_done(server);  // a worker's --max-requests (worker.h)
  ++conn.served;
  const std::size_t limit = server.options.max_requests_per_connection;
  if (limit != 0 && conn.served >= limit) conn.close_when_quiet();
  // The reader ends the connection now if it may (ConnectionReader::should_end).
  const bool closing = conn.state() != Connection::State::open && conn.quiet();
  const bool drained = conn.thread().refusing_requests() && conn.alive() == 0;
  if (closing || drained) conn.wake_reader();
}

}  // namespace

co::Options handler_coroutine(const ServerOptions& options, RequestState& req,
                              std::string_view kind) {
  const Request request(&req);
  req.label = kind;
  req.label += ' ';
  req.label += request.method();
  req.label += ' ';
  req.label += request.uri().substr(0, 200);
  co::Options o;
  o.stack_size = options.stack_size;
  o.stack_size_setting = "ServerOptions::stack_size, --stack-size";
  o.name = req.label.c_str();
  return o;
}

void start_request(Connection& conn, RequestState& req) {
  req.move_to(RequestPhase::running);
  // Counted from here, not from BEGIN_REQUEST: requests that never finish their params must
  // not take the process's slots (max_requests_in_flight); a connection's own are capped by
  // max_requests_per_connection_in_flight and their bytes by max_buffered_params.
  conn.thread().server.requests_in_flight.fetch_add(1, std::memory_order_relaxed);
  ServerMonitor* monitor = conn.thread().server.monitor;
  if (monitor != nullptr) monitor->counters().request_started();
  // The name stays valid until end_request, the coroutine's last act.
  const co::Options options = handler_coroutine(conn.server().options, req, "fastcgi request");
  conn.handlers().add();
  co::go(options, [&conn, &req, monitor] {
    {
      // Seen by the status page and the slow log while the handler runs (request_registry.h).
      const InFlightScope in_flight(conn.thread().in_flight, req.in_flight, req);
      run_handler(conn.server(), conn.thread().protocol_log, req);
    }
    if (monitor != nullptr) monitor->counters().request_ended();
    end_request(conn, req);
    conn.handlers().done();
  });
}

}  // namespace co::cgi::detail
