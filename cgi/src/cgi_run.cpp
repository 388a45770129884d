// A CGI run is a RequestState like a FastCGI request's, with other ends behind its two doors:
//   params     <- environ (one NAME=VALUE per variable)
//   BodyStream <- fd 0, fed by a reader coroutine: CONTENT_LENGTH bytes, body_timeout deadline
//   RecordSink -> fd 1: CgiSink takes the parts Response sends and writes their bytes
//                 ("Status: ...", headers, blank line, body: RFC 3875 6), no records
// so Request, Response, the Router, the limits and the error answers are the FastCGI ones.
//
// Output waits for the whole body: Apache's mod_cgid writes the whole request body into
// the program's stdin before it reads any of its stdout, so a program that wrote more than
// a pipe's worth before reading its body would deadlock with it. Response::flush already
// waits for the body; CgiSink::send waits too (a handler that answers without reading its
// body: hello, or an early error), while the reader keeps reading.
#include "cgi_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cofcgi/cgi/request.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/scheduler.h"
#include "io.h"
#include "rate_limited_log.h"
#include "request_runner.h"
#include "request_state.h"

extern char** environ;

namespace co::cgi::detail {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

// StdFd: fd 0 or 1 as the run uses it. A pipe or socket is made non-blocking and waited on
// with co::wait_fd (restored at the end: the file may be shared with a terminal or the
// host); a regular file, /dev/null or a terminal is used as it is.
class StdFd {
 public:
  explicit StdFd(int fd) : fd_(fd) {
    struct stat st;
    flags_ = ::fcntl(fd, F_GETFL);
    if (flags_ >= 0 && ::fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
      pollable_ = ::fcntl(fd, F_SETFL, flags_ | O_NONBLOCK) == 0;
      if (S_ISSOCK(st.st_mode)) kind_ = FdKind::socket;  // mod_cgid: one unix socket
    }
  }
  ~StdFd() {
    if (pollable_) ::fcntl(fd_, F_SETFL, flags_);
  }
  StdFd(const StdFd&) = delete;
  StdFd& operator=(const StdFd&) = delete;
  int fd() const { return fd_; }
  FdKind kind() const { return kind_; }

  // wait parks until the fd is ready for `events`; false at the deadline (errno ETIMEDOUT)
  // or when it cannot wait.
  bool wait(std::uint32_t events, co::Deadline deadline) const {
    if (!pollable_) return true;
    co::WakeReason reason;
    if (co::wait_fd(fd_, events, deadline, &reason) != 0) return false;
    if (reason == co::WakeReason::timeout) {
      errno = ETIMEDOUT;
      return false;
    }
    return true;
  }

 private:
  int fd_;
  int flags_ = -1;
  bool pollable_ = false;
  FdKind kind_ = FdKind::other;
};

// What went wrong in a run, for the exit code (the log line is written where it happened).
struct RunFailure {
  bool failed = false;
};

// fail_request: the run cannot complete; the handler gets RequestAborted at its next read or
// write and nothing more goes out.
void fail_request(RequestState& req, RunFailure& failure) {
  failure.failed = true;
  if (req.phase == RequestPhase::running) req.move_to(RequestPhase::aborted);
  req.body.abandon();
}

// CgiSink: the RecordSink of a CGI run. It writes the parts Response sends to fd 1, header
// text and body in one writev; a CGI response has no records and no END_REQUEST.
class CgiSink final : public RecordSink {
 public:
  CgiSink(const StdFd& out, std::chrono::milliseconds write_timeout, RunFailure& failure)
      : out_(out), write_timeout_(write_timeout), failure_(failure) {}

  bool send(RequestState& req, const ResponsePart& part) override {
    if (req.aborted() || failure_.failed) return false;
    if (req.body.receiving()) {
      // Not one byte before the body is in (mod_cgid: see the top of the file).
      try {
        req.body.wait_until_received();
      } catch (const BodyTooLarge&) {
        // over the limit: the 413 goes out now
      } catch (const RequestAborted&) {
        return false;
      }
      if (req.aborted() || failure_.failed) return false;
    }
    return write_out(req, part.head, part.body);
  }

  void cut_short(RequestState& req) override {
    co::log_printf(co::LogLevel::error,
                   "cgi: the response (%s) was cut short after %zu body bytes; exiting with "
                   "status 1",
                   req.label.c_str(), req.bytes_out);
    fail_request(req, failure_);
  }

 private:
  bool write_out(RequestState& req, std::string_view head, std::string_view body) {
    const co::Deadline deadline = co::deadline_after(write_timeout_);
    iovec pieces[2] = {{const_cast<char*>(head.data()), head.size()},
                       {const_cast<char*>(body.data()), body.size()}};
    if (write_fully(out_.fd(), out_.kind(), pieces, 2, deadline, &written_)) return true;
    if (errno == EPIPE) {
      co::log_printf(co::LogLevel::warning,
                     "cgi: stdout closed by the web server after %zu bytes of the response "
                     "(%s); exiting",
                     written_, req.label.c_str());
    } else {
      co::log_printf(
          co::LogLevel::error,
          "cgi: writing the response to stdout failed after %zu bytes (%s): %s", written_,
          req.label.c_str(),
          errno == EAGAIN ? "nobody read it within write_timeout" : std::strerror(errno));
    }
    fail_request(req, failure_);
    return false;
  }

  const StdFd& out_;
  std::chrono::milliseconds write_timeout_;
  RunFailure& failure_;
  std::size_t written_ = 0;
};

// read_body feeds the request's body from fd 0: exactly content_length bytes (RFC 3875 4.2:
// the script must not read more), or with `until_eof` everything up to EOF (Apache passes a
// chunked request body with no CONTENT_LENGTH and closes stdin after it); each pause at most
// body_timeout. With `discard` (a request answered without its handler: 413, 431), and once
// the body goes over max_body, the bytes are read and dropped: under mod_cgid stdin and
// stdout are one unix socket, and a program that exits with unread bytes in it makes the
// kernel reset the connection -- Apache then loses the response it had not read yet
// ("ap_content_length_filter: apr_bucket_read() failed", measured: about 1 in 3).
void read_body(RequestState& req, const StdFd& in, std::size_t content_length, bool until_eof,
               std::chrono::milliseconds body_timeout, bool discard, RunFailure& failure) {
  std::vector<char> buf(kReadChunk);
  std::size_t got = 0;
  co::Deadline deadline = co::deadline_after(body_timeout);
  while (got < content_length) {
    if (req.body.state() == BodyStream::State::abandoned) return;
    const ssize_t n = ::read(in.fd(), buf.data(), std::min(buf.size(), content_length - got));
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      if (!discard) {
        req.body.append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        discard = req.body.state() == BodyStream::State::over_limit;  // the handler gets 413
      }
      deadline = co::deadline_after(body_timeout);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && in.wait(POLLIN, deadline)) continue;
    if (n == 0 && until_eof) break;
    if (discard) return;  // the answer does not depend on it: nothing to fail
    const std::string expected = until_eof
                                     ? std::string("(a body up to EOF: no CONTENT_LENGTH)")
                                     : "of " + std::to_string(content_length) + " (CONTENT_LENGTH)";
    if (n == 0) {
      co::log_printf(co::LogLevel::error,
                     "cgi: stdin ended after %zu request body bytes %s: the web server closed it "
                     "early (%s)",
                     got, expected.c_str(), req.label.c_str());
    } else if (errno == ETIMEDOUT) {
      co::log_printf(co::LogLevel::error,
                     "cgi: no request body bytes on stdin for %lld ms after %zu %s; giving up "
                     "(body_timeout, --body-timeout) (%s)",
                     static_cast<long long>(body_timeout.count()), got, expected.c_str(),
                     req.label.c_str());
    } else {
      co::log_printf(co::LogLevel::error, "cgi: reading the request body from stdin: %s (%s)",
                     std::strerror(errno), req.label.c_str());
    }
    fail_request(req, failure);
    return;
  }
  if (!discard) req.body.end();
}

// environment_params copies environ into the request's params (NAME\0VALUE\0 ...); adds
// REQUEST_URI when the host does not set it (RFC 3875 has none; Apache and lighttpd set it):
// SCRIPT_NAME + PATH_INFO + ?QUERY_STRING, which is what Request::uri() and the Router see.
void environment_params(RequestState& req) {
  std::string& bytes = req.params_bytes;
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // name offset, value offset
  bool has_uri = false;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    if (entry.substr(0, eq) == "REQUEST_URI") has_uri = true;
    spans.emplace_back(bytes.size(), bytes.size() + eq + 1);
    bytes.append(entry.substr(0, eq));
    bytes.push_back('\0');
    bytes.append(entry.substr(eq + 1));
    bytes.push_back('\0');
  }
  if (!has_uri) {
    std::string uri;
    if (const char* s = std::getenv("SCRIPT_NAME")) uri += s;
    if (const char* s = std::getenv("PATH_INFO")) uri += s;
    const char* q = std::getenv("QUERY_STRING");
    if (q != nullptr && *q != '\0') (uri += '?') += q;
    spans.emplace_back(bytes.size(), bytes.size() + 12);
    bytes.append("REQUEST_URI");
    bytes.push_back('\0');
    bytes.append(uri);
    bytes.push_back('\0');
  }
  req.params.reserve(spans.size());
  for (const auto& [name, value] : spans) {
    req.params.emplace_back(std::string_view(bytes.data() + name),
                            std::string_view(bytes.data() + value));
  }
}

// answer_bad_request: input no handler should see; a plain 400 on stdout (the host shows it)
// and a log line on stderr (the host's error log).
int answer_bad_request(const char* why) {
  co::log_printf(co::LogLevel::error, "cgi: %s; answering 400", why);
  static constexpr std::string_view kAnswer =
      "Status: 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: 12\r\n\r\nBad Request\n";
  (void)write_fully(1, fd_kind(1), kAnswer, co::kNoDeadline);
  return 1;
}

// parse_content_length: CONTENT_LENGTH as a number; absent or empty is 0 (RFC 3875 4.1.2: no
// body); anything but digits is nothing.
std::optional<std::size_t> parse_content_length(const char* text) {
  if (text == nullptr || *text == '\0') return 0;
  std::size_t n = 0;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return std::nullopt;
    const std::size_t digit = static_cast<std::size_t>(*p - '0');
    if (n > (SIZE_MAX - digit) / 10) return std::nullopt;
    n = n * 10 + digit;
  }
  return n;
}

// refuse_early: what is refused before any handler runs -- params over the limits (431), a
// body announced over max_body (413) -- and the body's state to match. A refused request's
// body is still read, and dropped (read_body): true then.
bool refuse_early(RequestState& req, const ServerOptions& o, std::size_t content_length,
                  bool until_eof) {
  std::size_t params_bytes = 0;
  for (const auto& [name, value] : req.params) params_bytes += name.size() + value.size();
  if (params_bytes > o.max_params_bytes || req.params.size() > o.max_params) {
    req.rejection = Rejection::params_too_large;
  } else if (!until_eof && content_length > o.max_body) {
    req.rejection = Rejection::body_too_large;  // the body is not read: the 413 goes at once
  }
  const bool discard = req.rejection != Rejection::none;
  if (req.rejection == Rejection::body_too_large) {
    req.body.mark_over_limit();
  } else if (discard || content_length == 0) {
    req.body.end();
  }
  return discard;
}

}  // namespace

int run_cgi(ServerState& state) {
  ServerOptions& o = state.options;
  // The environment is the request's already: per-coroutine getenv() has nothing to add.
  o.cgi_environment = false;
  const char* method = std::getenv("REQUEST_METHOD");
  if (method == nullptr || *method == '\0') {
    return answer_bad_request(
        "REQUEST_METHOD is not set: not started by a CGI host? (--listen ADDR serves FastCGI)");
  }
  const char* length_text = std::getenv("CONTENT_LENGTH");
  std::optional<std::size_t> content_length = parse_content_length(length_text);
  if (!content_length) return answer_bad_request("CONTENT_LENGTH is not a number");
  // A chunked request body: Apache passes it with no CONTENT_LENGTH, up to EOF on stdin.
  const char* transfer_encoding = std::getenv("HTTP_TRANSFER_ENCODING");
  const bool until_eof = (length_text == nullptr || *length_text == '\0') &&
                         transfer_encoding != nullptr && *transfer_encoding != '\0';
  if (until_eof) content_length = SIZE_MAX;

  const StdFd in(0), out(1);
  RunFailure failure;
  CgiSink sink(out, o.write_timeout, failure);
  // The whole body may have to be held (mod_cgid): the budget's caps are max_body.
  BodyBudget budget(state.buffered_body, o.max_body, o.max_body);
  RequestState req(sink, budget, 0, o.max_body);
  req.started_ns = co::now_ns();
  environment_params(req);
  const bool discard = refuse_early(req, o, *content_length, until_eof);
  RateLimitedLog protocol_log;
  const co::Options options = handler_coroutine(o, req, "cgi request");
  req.move_to(RequestPhase::running);

  if (*content_length > 0) {
    co::go(
        [&] { read_body(req, in, *content_length, until_eof, o.body_timeout, discard, failure); });
  }
  co::go(options, [&] {
    run_handler(state, protocol_log, req);
    req.move_to(RequestPhase::ended);
  });
  co::run();
  return failure.failed ? 1 : 0;
}

}  // namespace co::cgi::detail
