// AccessFormat: an access log line's format, php-fpm's access.format tokens plus a few of our
// own, parsed once (at option parse time: a bad token is an error naming it) and rendered per
// request without looking at the format text again.
//
//   %%          a percent sign
//   %R          remote address (REMOTE_ADDR)           %u   remote user (REMOTE_USER)
//   %m          method                                 %r   request URI without the query
//   %q          query string                           %Q   '?' when there is a query string
//   %s          status, or "aborted" when the request was abandoned (FCGI_ABORT_REQUEST, or
//               the web server closed the connection) before it was answered
//   %l          request CONTENT_LENGTH                 %B   response body bytes sent (Apache's)
//   %d          duration: %{seconds}d (default, 0.012), %{milli}d or %{milliseconds}d (12.345),
//               %{micro}d or %{microseconds}d (12345)
//   %t          when the request started: %{strftime format}t, default %d/%b/%Y:%H:%M:%S %z
//   %T          when it ended (the line is written), same formats
//   %e          a FastCGI param: %{HTTP_HOST}e           %f  SCRIPT_FILENAME
//   %n          the program's name (php-fpm: the pool)  %p  pid                %P  parent pid
//   %I          a request id unique in the process: <pid>-<sequence> (ours)
// php-fpm's %C (CPU %) and %M (PHP memory) are refused with an explanation: nothing measures
// them per coroutine yet. An empty value prints as "-" (except %q and %Q).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cofcgi/cgi/request.h"

namespace co::cgi::detail {

// AccessRecord: what a line can say about one finished request.
struct AccessRecord {
  const Request* request = nullptr;
  int status = 0;
  bool abandoned = false;
  std::size_t bytes_out = 0;
  std::int64_t duration_ns = 0;
  std::int64_t started_unix_ns = 0;  // wall clock
  std::int64_t ended_unix_ns = 0;
  std::uint64_t sequence = 0;  // for %I
};

class AccessFormat {
 public:
  // Throws std::invalid_argument ("unknown token %x at offset 4", ...).
  explicit AccessFormat(std::string_view format);
  // render appends the line for `r` to `out`, without the newline.
  void render(const AccessRecord& r, std::string& out) const;

 private:
  struct Piece {
    char token = 0;   // 0: `text` is literal
    std::string arg;  // literal text, or the %{arg}x argument
  };
  std::vector<Piece> pieces_;
};

}  // namespace co::cgi::detail
