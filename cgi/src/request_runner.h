#pragma once

#include <string_view>

#include "cofcgi/runtime/options.h"
#include "connection.h"
#include "rate_limited_log.h"
#include "server_state.h"

namespace co::cgi::detail {

// run_handler is a request's life from the handler's side, the same for a FastCGI request
// and a CGI run: the rejection answer (431, 413) or the handler, what it throws turned into a
// response (500 with a log line, 413), then the response finished, or cut short through
// req.sink when part of it went out and the rest cannot follow; the access log line. Call it
// from the request's own coroutine, with req in phase `running`.
void run_handler(const ServerState& server, RateLimitedLog& protocol_log, RequestState& req);

// handler_coroutine names the request in req.label ("<kind> GET /uri") and gives the options
// of its handler's coroutine: the stack ServerOptions::stack_size sets, named in an overflow
// report with the request. req.label must outlive the coroutine's use of the name.
co::Options handler_coroutine(const ServerOptions& options, RequestState& req,
                              std::string_view kind);

// start_request runs the handler of a request whose params are complete, in a coroutine of
// its own. When the handler is over the response is finished (or cut short), the request
// leaves its connection, and the connection's reader is woken if the connection should
// now end.
void start_request(Connection& conn, RequestState& req);

}  // namespace co::cgi::detail
