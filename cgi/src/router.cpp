#include "cofcgi/cgi/router.h"

#include <algorithm>
#include <string>

namespace co::cgi {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const std::size_t end = path.find('/', i);
    segments.emplace_back(
        path.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
    if (end == std::string_view::npos) break;
    i = end;
  }
  return segments;
}

}  // namespace

Router& Router::route(std::string_view method, std::string_view pattern, Handler handler) {
  routes_.push_back(Route{std::string(method), split_path(pattern), std::move(handler)});
  return *this;
}

Router& Router::fallback(Handler handler) {
  fallback_ = std::move(handler);
  return *this;
}

bool Router::match(const Route& route, std::string_view path,
                   std::vector<std::pair<std::string, std::string>>* params) {
  const std::vector<std::string> segments = split_path(path);
  params->clear();
  for (std::size_t i = 0; i < route.segments.size(); ++i) {
    const std::string& pattern = route.segments[i];
    const bool is_param = pattern.size() >= 2 && pattern.front() == '{' && pattern.back() == '}';
    if (is_param && pattern.size() > 5 && pattern.compare(pattern.size() - 4, 4, "...}") == 0) {
      std::string rest;
      for (std::size_t j = i; j < segments.size(); ++j) {
        if (j > i) rest += '/';
        rest += segments[j];
      }
      params->emplace_back(pattern.substr(1, pattern.size() - 5), url_decode(rest, false));
      return true;
    }
    if (i >= segments.size()) return false;
    if (is_param) {
      params->emplace_back(pattern.substr(1, pattern.size() - 2), url_decode(segments[i], false));
    } else if (pattern != segments[i]) {
      return false;
    }
  }
  return route.segments.size() == segments.size();
}

void Router::operator()(Request& request, Response& response) const {
  const std::string_view path = request.path();
  std::string_view method = request.method();
  std::vector<std::string> allowed;  // methods of the patterns that match the path
  std::vector<std::pair<std::string, std::string>> params;
  for (const Route& route : routes_) {
    if (!match(route, path, &params)) continue;
    if (route.method == method || (method == "HEAD" && route.method == "GET")) {
      request.set_route_params(std::move(params));
      route.handler(request, response);
      return;
    }
    if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end())
      allowed.push_back(route.method);
  }
  if (fallback_) {
    fallback_(request, response);
    return;
  }
  if (!allowed.empty()) {
    std::string allow;
    for (const std::string& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    response.send_error(405, "Method Not Allowed\n");
    response.set_header("Allow", allow);
    return;
  }
  response.send_error(404, "Not Found\n");
}

}  // namespace co::cgi
