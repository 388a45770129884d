// Response: status, headers and a streamed body, sent as FastCGI STDOUT records.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cofcgi/runtime/export.h"

namespace co::cgi {

namespace detail {
struct RequestState;
}

class COFCGI_API Response {
 public:
  explicit Response(detail::RequestState* state) : state_(state) {}

  // Before the first byte of body is flushed: status and headers. A CR or LF in a name or
  // value throws std::invalid_argument (no header injection).
  void set_status(int code, std::string_view reason = {});
  void set_header(std::string_view name, std::string_view value);  // replaces
  void add_header(std::string_view name, std::string_view value);  // appends
  void set_content_type(std::string_view type) { set_header("Content-Type", type); }
  int status() const { return status_; }
  bool headers_sent() const { return headers_sent_; }

  // write appends to the body; once the buffer is full it is flushed as STDOUT records, so a
  // large or slow response streams. Throws RequestAborted when the request is gone.
  void write(std::string_view bytes);
  Response& operator<<(std::string_view bytes) {
    write(bytes);
    return *this;
  }
  // flush sends what is buffered now (headers first). The first flush of a request waits
  // until the web server has sent the whole request body (nginx stops sending the body
  // once a response header reached it); the body is buffered by the server meanwhile.
  void flush();
  // send_error is a complete plain-text error response, if headers were not sent yet.
  void send_error(int code, std::string_view message);

  // finish is called by the server after the handler: when the whole body is still
  // buffered, Content-Length is added and everything goes out in one write with
  // END_REQUEST.
  void finish(std::uint32_t app_status = 0);
  bool finished() const { return finished_; }

  static constexpr std::size_t kFlushThreshold = 32 * 1024;

 private:
  void render_headers(std::string& out, bool with_length);
  // send_pending hands the sink the headers (first time only; with Content-Length when
  // `last`) and the buffered body, and empties the buffer; `last` ends the response
  // (END_REQUEST with app_status). False when the sink refused.
  bool send_pending(bool last, std::uint32_t app_status);
  detail::RequestState* state_;
  int status_ = 200;
  std::string reason_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
  bool headers_sent_ = false;
  bool finished_ = false;
};

// reason_phrase is the standard text for an HTTP status code ("Not Found").
COFCGI_API std::string_view reason_phrase(int code);

}  // namespace co::cgi
