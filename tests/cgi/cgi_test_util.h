// Helpers shared by the FastCGI layer's tests: child processes (the example apps, cgi-fcgi),
// a raw FastCGI client, a small HTTP/1.1 client, an in-process Server on its own thread,
// and a look at the kernel's TCP table. Everything here is plain blocking code on the
// test's own threads (the test binary does not link the hooks).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cofcgi/cgi/server.h"

namespace cgi_test {

using namespace std::chrono_literals;
using Pairs = std::vector<std::pair<std::string, std::string>>;

// ms_since: milliseconds from t to now (steady clock).
long long ms_since(std::chrono::steady_clock::time_point t);
// under_sanitizer: the test runs in a sanitizer pass (COFCGI_TEST_PASS is set and not "main").
bool under_sanitizer();
// loose: a bound on how long the server may take to act on a deadline a test gave it; twice
// as long under a sanitizer. Such bounds are many times the deadline, never a speed claim.
std::chrono::milliseconds loose(std::chrono::milliseconds bound);

std::string to_hex(std::string_view bytes);
std::uint64_t fnv1a64(std::string_view bytes);
// random_bytes: deterministic pseudo-random bytes (every byte value appears).
std::string random_bytes(std::size_t n, std::uint64_t seed = 1);
std::string read_file(const std::string& path);

// TempDir: a fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Child: a process started from argv with stdout+stderr appended to log_path and stdin
// from /dev/null; dies with the test (PR_SET_PDEATHSIG); SIGKILLed and reaped by the
// destructor if still running.
class Child {
 public:
  Child(const std::vector<std::string>& argv, std::string log_path);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // wait_exit returns the wait status once the process exits, or nothing at the timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string log() const { return read_file(log_path_); }

 private:
  std::string log_path_;  // before pid_: the constructor spawns with it
  pid_t pid_ = -1;
};

// App: a cofcgi program (examples/hello, examples/echo, the test server) started with
// `--listen LISTEN` plus args; start_app waits (up to 20 s) for its "serving FastCGI on
// ADDR" log line, so LISTEN may be "127.0.0.1:0". address is "HOST:PORT" or "unix:PATH".
struct App {
  std::unique_ptr<Child> child;
  std::string address;
};
App start_app(const std::string& exe, const std::string& listen,
              const std::vector<std::string>& args, const std::string& log_path);

// run_program runs argv with `input` on stdin and collects stdout and stderr; status is the
// wait status (or -1 when it had to be killed at the timeout).
struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
};
RunResult run_program(const std::vector<std::string>& argv, const std::string& input,
                      std::chrono::milliseconds timeout = 30s);

// connect_to opens a blocking connection to "HOST:PORT" or "unix:PATH"; -1 with errno.
int connect_to(const std::string& address);
bool send_all(int fd, std::string_view bytes);

// ---- FastCGI, spoken byte by byte ----------------------------------------------------

inline constexpr std::uint8_t kBeginRequest = 1, kAbortRequest = 2, kEndRequest = 3, kParams = 4,
                              kStdin = 5, kStdout = 6, kStderr = 7, kData = 8, kGetValues = 9,
                              kGetValuesResult = 10, kUnknownType = 11;

struct RawRecord {
  std::uint8_t version = 0;
  std::uint8_t type = 0;
  std::uint16_t id = 0;
  std::string content;
  std::uint8_t padding = 0;
};

// record: one record; padding -1 picks the 8-byte alignment padding.
std::string record(std::uint8_t type, std::uint16_t id, std::string_view content, int padding = -1);
std::string begin_request(std::uint16_t id, std::uint16_t role = 1, std::uint8_t flags = 1);
std::string encode_pairs(const Pairs& pairs);
// stream: `data` as records of at most `chunk` bytes, then the empty record ending it.
std::string stream(std::uint8_t type, std::uint16_t id, std::string_view data,
                   std::size_t chunk = 65535);
// A whole request: BEGIN_REQUEST, PARAMS, STDIN.
std::string whole_request(std::uint16_t id, const Pairs& params, std::string_view body = {},
                          bool keep_conn = true);
// Typical CGI params for METHOD URI (with CONTENT_LENGTH when body_length >= 0).
Pairs cgi_params(const std::string& method, const std::string& uri, long long body_length = -1);

// FcgiReply: what came back for one request id.
struct FcgiReply {
  bool complete = false;    // END_REQUEST arrived
  std::string out;          // STDOUT bytes
  std::string err;          // STDERR bytes
  bool out_closed = false;  // the empty STDOUT record arrived
  std::uint32_t app_status = 0;
  std::uint8_t protocol_status = 255;
  int stdout_records = 0;
};

// CgiResponse: a CGI response ("Status: 200 OK\r\nHeaders\r\n\r\nbody") taken apart.
struct CgiResponse {
  int status = 0;
  Pairs headers;
  std::string body;
  std::optional<std::string> header(std::string_view name) const;
};
CgiResponse parse_cgi_response(const std::string& raw);

// FcgiConn: a blocking client connection reading whole records.
class FcgiConn {
 public:
  explicit FcgiConn(const std::string& address);  // throws std::runtime_error
  ~FcgiConn();
  FcgiConn(const FcgiConn&) = delete;
  FcgiConn& operator=(const FcgiConn&) = delete;
  int fd() const { return fd_; }
  void send(std::string_view bytes);  // throws on failure
  bool try_send(std::string_view bytes);
  // read_record: the next record, or nothing at the timeout or when the peer closed (see
  // closed()).
  std::optional<RawRecord> read_record(std::chrono::milliseconds timeout);
  bool closed() const { return closed_; }
  // wait_closed: true when the peer closes (EOF or reset) within the timeout; records that
  // arrive meanwhile are kept for read_record/read_reply.
  bool wait_closed(std::chrono::milliseconds timeout);
  // read_reply collects the records of request `id` until its END_REQUEST (records of other
  // ids are kept for their own read_reply).
  FcgiReply read_reply(std::uint16_t id, std::chrono::milliseconds timeout = 10s);
  FcgiReply request(std::uint16_t id, const Pairs& params, std::string_view body = {},
                    bool keep_conn = true, std::chrono::milliseconds timeout = 10s);
  // Every record read so far, in arrival order (for interleaving checks).
  const std::vector<std::pair<std::uint8_t, std::uint16_t>>& arrivals() const { return arrivals_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  std::optional<RawRecord> take_buffered();
  int fd_ = -1;
  bool closed_ = false;
  std::string buf_;
  std::deque<RawRecord> stash_;
  std::vector<std::pair<std::uint8_t, std::uint16_t>> arrivals_;
};

// ---- HTTP/1.1 (to nginx) -------------------------------------------------------------

struct HttpResponse {
  int status = 0;
  Pairs headers;
  std::string body;  // de-chunked
  std::optional<std::string> header(std::string_view name) const;
};
// http_request sends one request with "Connection: close" (and Content-Length when there is
// a body or the method is POST/PUT, unless `headers` has Transfer-Encoding: then `body` goes
// as given, already encoded), sending and reading at once, and reads to EOF.
// Throws std::runtime_error on a connection failure or a malformed response.
HttpResponse http_request(const std::string& host, std::uint16_t port, const std::string& method,
                          const std::string& target, const std::string& body = {},
                          const Pairs& headers = {}, std::chrono::milliseconds timeout = 60s);

// ---- an in-process Server ------------------------------------------------------------

// InProcessServer runs co::cgi::Server::run() on a thread of its own (signals not
// handled: handle_signals is forced off) and waits until it listens; the destructor calls
// stop() and joins.
class InProcessServer {
 public:
  InProcessServer(co::cgi::ServerOptions options, co::cgi::Handler handler);
  ~InProcessServer();
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;
  const std::string& address() const { return address_; }
  std::uint16_t port() const;  // for a TCP listener
  // stop_and_join: stop(), join, and run()'s return value (-1 if it threw).
  int stop_and_join();

 private:
  std::unique_ptr<co::cgi::Server> server_;
  std::thread thread_;
  std::string address_;
  int exit_code_ = -1;
  bool joined_ = false;
};

// tcp_connections_to: the client-side ports of every IPv4 TCP connection (any state but
// LISTEN, both ends as the kernel lists them in /proc/net/tcp) to local port `port`:
// one entry per connection ever made that is still open or in TIME_WAIT.
std::set<std::uint16_t> tcp_connections_to(std::uint16_t port);

// raise_fd_limit sets RLIMIT_NOFILE's soft limit to its hard limit; returns the new limit.
std::size_t raise_fd_limit();

// ---- HTTP/1.1, bytes as they came ----------------------------------------------------

// RawHttpResponse: a response read to EOF (or reset) and taken apart without judging it, so
// a test can see a body cut short: `chunked_complete` says whether the terminating
// zero-length chunk arrived; `body` is de-chunked as far as the bytes go.
struct RawHttpResponse {
  int status = 0;
  Pairs headers;
  std::string raw_body;  // everything after the header block, as received
  bool chunked = false;
  bool chunked_complete = false;
  std::string body;
  std::optional<std::string> header(std::string_view name) const;
};
// http_get_raw sends "GET target" with "Connection: close" and reads until the server closes
// (EOF or reset). Throws std::runtime_error on a connection failure, a timeout or a response
// with no complete header block.
RawHttpResponse http_get_raw(const std::string& host, std::uint16_t port, const std::string& target,
                             std::chrono::milliseconds timeout = 30s);

}  // namespace cgi_test
