#pragma once

#include "request_state.h"

namespace cofcgi::cgi::detail {

// serve_connection runs a connection until it closes, then waits for its handlers.
void serve_connection(Connection& conn);

}  // namespace cofcgi::cgi::detail
