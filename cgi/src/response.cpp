#include "cofcgi/cgi/response.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "ascii.h"
#include "cofcgi/cgi/record.h"
#include "request_state.h"

namespace co::cgi {
namespace {

void check_header_text(std::string_view s, const char* what) {
  if (s.find_first_of("\r\n") != std::string_view::npos ||
      (what[0] == 'n' && (s.empty() || s.find(':') != std::string_view::npos))) {
    throw std::invalid_argument(std::string("invalid HTTP header ") + what +
                                " (CR, LF or ':' in it)");
  }
}

}  // namespace

std::string_view reason_phrase(int code) {
  switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

void Response::set_status(int code, std::string_view reason) {
  if (code < 100 || code > 999) throw std::invalid_argument("HTTP status out of range");
  check_header_text(reason, "value");
  status_ = code;
  reason_ = std::string(reason);
}

void Response::set_header(std::string_view name, std::string_view value) {
  check_header_text(name, "name");
  check_header_text(value, "value");
  headers_.erase(
      std::remove_if(headers_.begin(), headers_.end(),
                     [&](const auto& h) { return detail::ascii_iequals(h.first, name); }),
      headers_.end());
  headers_.emplace_back(name, value);
}

void Response::add_header(std::string_view name, std::string_view value) {
  check_header_text(name, "name");
  check_header_text(value, "value");
  headers_.emplace_back(name, value);
}

void Response::render_headers(std::string& out, bool with_length) {
  out += "Status: ";
  out += std::to_string(status_);
  out += ' ';
  out += reason_.empty() ? reason_phrase(status_) : std::string_view(reason_);
  out += "\r\n";
  // 1xx, 204 and 304 carry no content: no Content-Length (RFC 9110 8.6: a 204 must not
  // send one) and no default Content-Type.
  const bool no_content = status_ < 200 || status_ == 204 || status_ == 304;
  with_length = with_length && !no_content;
  bool has_type = no_content;
  for (const auto& [name, value] : headers_) {
    if (detail::ascii_iequals(name, "Content-Type")) has_type = true;
    if (with_length && detail::ascii_iequals(name, "Content-Length")) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!has_type) out += "Content-Type: text/html; charset=utf-8\r\n";
  if (with_length) {
    out += "Content-Length: ";
    out += std::to_string(body_.size());
    out += "\r\n";
  }
  out += "\r\n";
}

void Response::write(std::string_view bytes) {
  if (state_->aborted() || finished_) throw RequestAborted();
  body_.append(bytes);
  if (body_.size() >= kFlushThreshold) flush();
}

bool Response::send_pending(bool last, std::uint32_t app_status) {
  std::string head;
  if (!headers_sent_) {
    render_headers(head, /*with_length=*/last);
    headers_sent_ = true;
  }
  if (head.empty() && body_.empty() && !last) return true;
  const bool sent = state_->sink.send(*state_, {head, body_, last, app_status});
  state_->bytes_out += body_.size();
  body_.clear();
  return sent;
}

void Response::flush() {
  if (state_->aborted()) throw RequestAborted();
  // Nothing goes out before the request's body has arrived. nginx stops sending the request
  // body as soon as it has passed a response header on to its client
  // (ngx_http_upstream_send_request_handler, `u->header_sent`), so a handler that streams its
  // answer while the body still flows (echo) would wait forever for the rest of the body.
  // The connection's reader buffers the body meanwhile (within its budget, and the body's
  // deadline ends the wait when the web server stalls). finish() does not wait: a complete
  // answer (413, or one that ignores the body) may go out early.
  if (!headers_sent_) state_->body.wait_until_received();
  if (state_->aborted()) throw RequestAborted();
  if (!send_pending(false, 0)) throw RequestAborted();
}

void Response::send_error(int code, std::string_view message) {
  if (headers_sent_) return;
  status_ = code;
  reason_.clear();
  headers_.clear();
  set_header("Content-Type", "text/plain; charset=utf-8");
  body_.assign(message);
}

void Response::finish(std::uint32_t app_status) {
  if (finished_) return;
  finished_ = true;
  state_->status = status_;
  // An aborted request's END_REQUEST went out already, or its connection is gone.
  if (state_->aborted()) return;
  state_->move_to(detail::RequestPhase::finishing);
  // Everything in one write when possible (one sendmsg of the pieces, nothing copied:
  // stdout_frames.h): headers, body, the empty STDOUT that ends the stream and END_REQUEST.
  // Two writes per small response cost ~40 ms per request with delayed ACKs (fastcgi++
  // measured).
  (void)send_pending(true, app_status);
}

}  // namespace co::cgi
