#pragma once

#include "connection.h"

namespace co::cgi::detail {

// serve_connection reads the connection's records until it ends (the web server closed it,
// FCGI_KEEP_CONN was clear, a deadline passed, bad input, the drain), then aborts what is
// left of its requests and waits for their handlers. Runs in the connection's coroutine.
void serve_connection(Connection& conn);

}  // namespace co::cgi::detail
