// Handler: what the server calls for each request, in the request's own coroutine.
#pragma once

#include <functional>

#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/response.h"

namespace co::cgi {

using Handler = std::function<void(Request&, Response&)>;

}  // namespace co::cgi
