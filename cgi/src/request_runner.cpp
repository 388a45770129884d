#include "request_runner.h"

#include "cgi_environment.h"

#include <exception>
#include <string>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"

namespace co::cgi::detail {
namespace {

void run_handler(RequestState& req, Server::Impl& server) {
  Request request(&req);
  Response response(&req);
  if (server.options.cgi_environment) export_cgi_environment(req);
  if (req.rejection == Rejection::params_too_large) {
    co::log_printf(co::LogLevel::warning, "fastcgi: request %u: params over the limit (%zu bytes, %zu params); 431",
                   req.id, server.options.max_params_bytes, server.options.max_params);
    response.send_error(431, "Request Header Fields Too Large\n");
  } else if (req.rejection == Rejection::body_too_large) {
    // Announced by CONTENT_LENGTH, or already more STDIN than allowed before the handler
    // got to run: either way the handler is not run.
    co::log_printf(co::LogLevel::warning, "fastcgi: request %u: body over max_body (%zu bytes); 413", req.id,
                   server.options.max_body);
    response.send_error(413, "Payload Too Large\n");
  } else {
    try {
      server.handler(request, response);
      if (req.rejection == Rejection::body_too_large && !response.headers_sent()) {
        response.send_error(413, "Payload Too Large\n");
      }
    } catch (const RequestAborted&) {
      // Cooperative cancellation: nothing more to send but END_REQUEST.
    } catch (const BodyTooLarge&) {
      if (!response.headers_sent()) response.send_error(413, "Payload Too Large\n");
    } catch (const std::exception& e) {
      co::log_printf(co::LogLevel::error, "handler threw for \"%.*s %.*s\": %s",
                     static_cast<int>(request.method().size()), request.method().data(),
                     static_cast<int>(request.uri().size()), request.uri().data(), e.what());
      if (!response.headers_sent()) response.send_error(500, "Internal Server Error\n");
    } catch (...) {
      co::log_printf(co::LogLevel::error, "handler threw a non-exception for \"%.*s %.*s\"",
                     static_cast<int>(request.method().size()), request.method().data(),
                     static_cast<int>(request.uri().size()), request.uri().data());
      if (!response.headers_sent()) response.send_error(500, "Internal Server Error\n");
    }
  }
  try {
    response.finish();
  } catch (const std::exception&) {
    // The peer went away: nothing to finish.
  }
  if (server.options.access_log) {
    const long long us = (co::now_ns() - req.started_ns) / 1000;
    co::log_printf(co::LogLevel::info, "%.*s %.*s %d %zu %lld.%03lldms", static_cast<int>(request.method().size()),
                   request.method().data(), static_cast<int>(request.uri().size()), request.uri().data(),
                   response.status(), req.bytes_out, us / 1000, us % 1000);
  }
}

}  // namespace

void start_request(RequestState& req, Server::Impl& server) {
  Connection& conn = *req.conn;
  conn.handlers.add();
  co::Options options;
  options.stack_size = server.options.stack_size;
  options.name = "fastcgi-request";
  req.started = true;
  co::go(options, [&req, &server, &conn] {
    run_handler(req, server);
    // By pointer, not id: an aborted request was detached and its id may be in use again.
    conn.remove_request(&req);  // destroys req
    server.requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
    ++conn.served;
    const std::size_t limit = server.options.max_requests_per_connection;
    if (limit != 0 && conn.served >= limit) conn.close_after_requests = true;
    if (conn.quiet() && (conn.close_after_requests || conn.thread->draining) && conn.reading) {
      co::fd_closing(conn.fd);  // wake the reader so the connection closes now
    }
    conn.handlers.done();
  });
}

}  // namespace co::cgi::detail
