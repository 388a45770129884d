// Request: what a handler sees of one FastCGI request. Valid for the handler's duration;
// string_views point into the request's own storage.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cofcgi/cgi/html.h"  // html_escape, which lived here before
#include "cofcgi/runtime/export.h"

namespace co::cgi {

namespace detail {
struct RequestState;
}

// Thrown by Request/Response I/O once the web server aborted the request
// (FCGI_ABORT_REQUEST) or its connection went away: the handler unwinds cooperatively.
class COFCGI_API RequestAborted : public std::runtime_error {
 public:
  RequestAborted() : std::runtime_error("request aborted by the web server") {}
};

// Thrown when the body exceeds the server's max_body (answered 413 if nothing was sent).
class COFCGI_API BodyTooLarge : public std::runtime_error {
 public:
  BodyTooLarge() : std::runtime_error("request body too large") {}
};

using Params = std::vector<std::pair<std::string_view, std::string_view>>;

class COFCGI_API Request {
 public:
  explicit Request(detail::RequestState* state) : state_(state) {}

  // param is a raw CGI parameter (REQUEST_METHOD, QUERY_STRING, HTTP_HOST, ...).
  std::optional<std::string_view> param(std::string_view name) const;
  std::string_view param_or(std::string_view name, std::string_view fallback) const {
    return param(name).value_or(fallback);
  }
  const Params& params() const;  // all of them, in arrival order

  std::string_view method() const { return param_or("REQUEST_METHOD", ""); }
  std::string_view uri() const { return param_or("REQUEST_URI", ""); }
  std::string_view script_name() const { return param_or("SCRIPT_NAME", ""); }
  std::string_view path_info() const { return param_or("PATH_INFO", ""); }
  std::string_view query_string() const { return param_or("QUERY_STRING", ""); }
  std::string_view remote_addr() const { return param_or("REMOTE_ADDR", ""); }
  // path is the URI without its query string: what the router matches.
  std::string_view path() const;

  // header("User-Agent") reads HTTP_USER_AGENT (and CONTENT_TYPE / CONTENT_LENGTH).
  std::optional<std::string_view> header(std::string_view name) const;
  // query parameter, decoded (application/x-www-form-urlencoded rules).
  std::optional<std::string> query(std::string_view name) const;
  // form parameter from an urlencoded body (reads the whole body).
  std::optional<std::string> form(std::string_view name);
  std::optional<std::string> cookie(std::string_view name) const;

  // read_body reads up to n body bytes as they arrive (parks until some are there); 0 at
  // the end of the body. Throws RequestAborted or BodyTooLarge.
  std::size_t read_body(char* buf, std::size_t n);
  // body reads the whole body (up to the server's max_body).
  const std::string& body();

  // Route parameters ("/users/{id}" matched as id), set by the router.
  std::optional<std::string_view> route_param(std::string_view name) const;
  void set_route_params(std::vector<std::pair<std::string, std::string>> params) {
    route_params_ = std::move(params);
  }

  bool aborted() const;
  std::uint16_t id() const;

 private:
  detail::RequestState* state_;
  std::vector<std::pair<std::string, std::string>> route_params_;
  std::optional<std::string> body_;
};

// url_decode decodes %XX and '+' (form encoding); invalid escapes are kept as they are.
COFCGI_API std::string url_decode(std::string_view in, bool plus_is_space = true);

}  // namespace co::cgi
