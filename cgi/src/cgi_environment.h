// Legacy CGI code reads its request through getenv("QUERY_STRING") & co. With the hooks
// layer linked, the names registered through co_set_env_list are private to each coroutine,
// so each handler coroutine can setenv its own request's variables without seeing another's.
#pragma once

#include "request_state.h"

namespace co::cgi::detail {

// cgi_environment_available: the hooks layer (co_set_env_list) is linked in. Without it a
// setenv would change the process environment every coroutine shares, so nothing is set.
bool cgi_environment_available();
// register_cgi_environment registers the standard CGI meta-variables (RFC 3875) and common
// HTTP_* headers, once per process. Only these names: registering whatever a peer sends
// would grow the list without bound.
void register_cgi_environment();
// export_cgi_environment setenv()s the request's registered params in the calling (handler)
// coroutine.
void export_cgi_environment(const RequestState& req);

}  // namespace co::cgi::detail
