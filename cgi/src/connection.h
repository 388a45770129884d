#pragma once

#include "request_state.h"

namespace co::cgi::detail {

// serve_connection runs a connection until it closes, then waits for its handlers.
void serve_connection(Connection& conn);

}  // namespace co::cgi::detail
