// Server: listens (TCP, unix socket or an inherited fd 0 as spawn-fcgi passes it), runs N
// threads each with its own scheduler, one coroutine per connection and one per request,
// and drains gracefully on SIGTERM/SIGINT.
#pragma once

#include "cofcgi/runtime/export.h"

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "cofcgi/cgi/router.h"

namespace co::cgi {

struct ServerOptions {
  // "HOST:PORT", "[V6]:PORT", "unix:PATH", or "fd:0" for the listening socket inherited on
  // fd 0 (FCGI_LISTENSOCK_FILENO, as spawn-fcgi and `cgi-fcgi -start` pass it). Empty (the
  // default): fd 0 when it is a listening socket, else 127.0.0.1:9000.
  std::string listen;
  int threads = 1;
  mode_t unix_socket_mode = 0660;  // permissions of a unix socket we create
  int backlog = 1024;

  // Limits on everything a peer controls.
  std::size_t max_params_bytes = 64 * 1024;          // over: 431
  std::size_t max_params = 512;                      // over: 431
  std::size_t max_body = 16 * 1024 * 1024;           // over: 413
  std::size_t max_requests_per_connection = 0;       // 0: unlimited; then closed
  std::size_t max_requests_per_connection_in_flight = 64;  // over: FCGI_CANT_MPX_CONN
  std::size_t max_requests_in_flight = 10000;        // per process; over: FCGI_OVERLOADED
  std::size_t max_connections = 10000;               // per process; over: closed at once
  std::chrono::milliseconds idle_timeout{60000};     // no request in flight, nothing read
  std::chrono::milliseconds params_timeout{10000};   // BEGIN_REQUEST to the end of PARAMS
  std::chrono::milliseconds write_timeout{60000};    // a peer that stops reading
  std::chrono::milliseconds grace_period{10000};     // SIGTERM: in-flight requests may finish

  bool access_log = false;          // one line per request: method URI status bytes duration
  std::size_t stack_size = 0;       // handler coroutine stacks (0: runtime default, 128 KiB)
  bool handle_signals = true;       // SIGTERM/SIGINT drain; SIGPIPE ignored either way
  // Legacy CGI code: in a handler, getenv("QUERY_STRING"), getenv("HTTP_HOST") & co. return
  // this request's values (per coroutine: needs cofcgi::hooks linked; ignored without it).
  // The standard CGI variables and common HTTP_* headers only.
  bool cgi_environment = false;
};

// parse_server_args reads the options every example takes: --listen ADDR, --threads N,
// --max-body BYTES, --access-log, --cgi-env. Unknown arguments are left for the caller (returned in
// `rest`); a malformed value throws std::invalid_argument.
COFCGI_API ServerOptions parse_server_args(int argc, char** argv, std::vector<std::string>* rest = nullptr);

class COFCGI_API Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // run listens and serves until SIGTERM/SIGINT (or stop()); returns the exit code (0 after a
  // clean drain). The drain stops accepting at once (the listening socket is closed: new
  // connections are refused) and waits up to grace_period for the requests in flight; past
  // it the process exits with status 1 (std::_Exit: handlers cannot be interrupted).
  // Throws std::system_error when it cannot listen.
  int run();
  // stop starts the same drain as SIGTERM; callable from any thread.
  void stop();
  // bound_address is where the server listens once run() bound its socket ("127.0.0.1:40123"),
  // "" before; callable from any thread (poll it to learn a port chosen with ":0").
  std::string bound_address() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace co::cgi
