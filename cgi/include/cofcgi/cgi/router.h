// Router: method + path patterns with named parameters ("/users/{id}"), 404 and 405
// answered properly, an optional fallback.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cofcgi/cgi/handler.h"
#include "cofcgi/runtime/export.h"

namespace co::cgi {

class COFCGI_API Router {
 public:
  // route adds a pattern: segments separated by '/', a segment "{name}" matches any one
  // segment and is available as request.route_param("name"); a last segment "{name...}"
  // matches the rest of the path.
  Router& route(std::string_view method, std::string_view pattern, Handler handler);
  Router& get(std::string_view pattern, Handler h) { return route("GET", pattern, std::move(h)); }
  Router& post(std::string_view pattern, Handler h) { return route("POST", pattern, std::move(h)); }
  // fallback answers requests no route matches (instead of 404/405).
  Router& fallback(Handler handler);

  // dispatch finds the route for the request and runs it; 404 when no pattern matches, 405
  // (with Allow) when a pattern matches with another method. HEAD is served by GET routes.
  void operator()(Request& request, Response& response) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool match(const Route& route, std::string_view path,
                    std::vector<std::pair<std::string, std::string>>* params);
  std::vector<Route> routes_;
  Handler fallback_;
};

}  // namespace co::cgi
