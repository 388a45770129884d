#pragma once

#include "request_state.h"

namespace co::cgi::detail {

// start_request runs the handler for a request whose params are complete, in a coroutine of
// its own; when it ends the response is finished, the request removed from its connection,
// and the connection's reader woken if the connection should now close.
void start_request(RequestState& req, Server::Impl& server);

}  // namespace co::cgi::detail
