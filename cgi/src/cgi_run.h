// run_cgi: the app as a plain CGI program (RFC 3875): one request from the environment and
// stdin, its response as CGI output on stdout, then the exit code.
#pragma once

#include "server_state.h"

namespace co::cgi::detail {

// run_cgi runs the one request of a CGI run on this thread's scheduler, the handler in a
// coroutine exactly as under FastCGI (request_runner.h), and returns the exit code: 0 when the
// response went out whole (whatever its status), 1 when it could not (no REQUEST_METHOD, a bad
// CONTENT_LENGTH, a body that stopped short, stdout closed, a response cut short), each with a
// log line on stderr (CGI hosts put it in their error log). Call it from the thread's own
// stack with no coroutine running.
int run_cgi(ServerState& state);

}  // namespace co::cgi::detail
