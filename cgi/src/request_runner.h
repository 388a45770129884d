#pragma once

#include "connection.h"

namespace co::cgi::detail {

// start_request runs the handler of a request whose params are complete, in a coroutine of
// its own. When the handler is over the response is finished (or cut short), the request
// leaves its connection, and the connection's reader is woken if the connection should
// now end.
void start_request(Connection& conn, RequestState& req);

}  // namespace co::cgi::detail
