#include "cofcgi/cgi/request.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "ascii.h"
#include "request_state.h"

namespace co::cgi {
namespace {

// find_pair looks `name` up in "a=1&b=2" (sep '&') or "a=1; b=2" (sep ';').
std::optional<std::string_view> find_pair(std::string_view text, std::string_view name, char sep) {
  while (!text.empty()) {
    const std::size_t end = text.find(sep);
    std::string_view item = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const std::size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    if (key == name) return eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
  }
  return std::nullopt;
}

// Finds an urlencoded key, decoding the keys as it goes (they may be encoded too).
std::optional<std::string> find_form_value(std::string_view text, std::string_view name) {
  while (!text.empty()) {
    const std::size_t end = text.find('&');
    const std::string_view item = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    const std::size_t eq = item.find('=');
    if (url_decode(item.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string{} : url_decode(item.substr(eq + 1));
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> Request::param(std::string_view name) const {
  for (const auto& [n, v] : state_->params) {
    if (n == name) return v;
  }
  return std::nullopt;
}

const Params& Request::params() const { return state_->params; }

std::string_view Request::path() const {
  std::string_view u = uri();
  if (u.empty()) u = script_name();
  return u.substr(0, u.find('?'));
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  std::string key;
  // CGI passes these two without the HTTP_ prefix (RFC 3875 4.1.2, 4.1.3).
  if (detail::ascii_iequals(name, "Content-Type")) return param("CONTENT_TYPE");
  if (detail::ascii_iequals(name, "Content-Length")) return param("CONTENT_LENGTH");
  key.reserve(5 + name.size());
  key = "HTTP_";
  for (char c : name)
    key.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return param(key);
}

std::optional<std::string> Request::query(std::string_view name) const {
  return find_form_value(query_string(), name);
}

std::optional<std::string> Request::form(std::string_view name) {
  // The media type, case-insensitive (RFC 9110 8.3.1), maybe followed by parameters.
  constexpr std::string_view kForm = "application/x-www-form-urlencoded";
  const std::string_view type = param_or("CONTENT_TYPE", "");
  if (!detail::ascii_iequals(type.substr(0, kForm.size()), kForm)) return std::nullopt;
  if (type.size() > kForm.size() && type[kForm.size()] != ';' && type[kForm.size()] != ' ')
    return std::nullopt;
  return find_form_value(body(), name);
}

std::optional<std::string> Request::cookie(std::string_view name) const {
  const auto cookies = param("HTTP_COOKIE");
  if (!cookies) return std::nullopt;
  const auto value = find_pair(*cookies, name, ';');
  if (!value) return std::nullopt;
  return std::string(*value);
}

std::size_t Request::read_body(char* buf, std::size_t n) { return state_->body.read(buf, n); }

const std::string& Request::body() {
  if (!body_) {
    std::string all;
    char chunk[16 * 1024];
    while (const std::size_t n = read_body(chunk, sizeof chunk)) all.append(chunk, n);
    body_ = std::move(all);
  }
  return *body_;
}

std::optional<std::string_view> Request::route_param(std::string_view name) const {
  for (const auto& [n, v] : route_params_) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

bool Request::aborted() const { return state_->aborted(); }
std::uint16_t Request::id() const { return state_->id; }

std::string url_decode(std::string_view in, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace co::cgi
