// The server's per-connection and per-request state, shared by connection.cpp (records in),
// request.cpp/response.cpp (the handler's view) and server.cpp (threads, drain).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/response.h"
#include "cofcgi/cgi/server.h"
#include "cofcgi/runtime/cond_var.h"
#include "cofcgi/runtime/mutex.h"
#include "cofcgi/runtime/wait_group.h"

namespace co::cgi::detail {

struct Connection;
struct ThreadContext;

// Why a request is answered without its handler running.
enum class Rejection { none, params_too_large, body_too_large };

struct RequestState {
  Connection* conn = nullptr;
  std::uint16_t id = 0;
  bool keep_conn = false;
  Rejection rejection = Rejection::none;
  std::string params_bytes;      // PARAMS stream, parsed once complete
  Params params;                 // views into params_bytes
  bool params_done = false;
  std::string stdin_pending;     // STDIN bytes received; the handler has read up to stdin_read
  std::size_t stdin_read = 0;    // (consumed from the front lazily: no quadratic erase)
  std::size_t stdin_total = 0;   // all STDIN bytes received
  bool stdin_done = false;
  bool aborted = false;
  bool started = false;          // its handler coroutine was started (start_request)
  bool finishing = false;        // Response::finish is sending the end of the response
  bool end_sent = false;         // END_REQUEST already sent (ABORT_REQUEST answered at once)
  co::CondVar stdin_ready;       // handler waits here for STDIN
  co::Deadline params_deadline = co::kNoDeadline;
  std::int64_t started_ns = 0;
  std::size_t bytes_out = 0;
  int status = 0;
};

struct Connection {
  int fd = -1;
  ThreadContext* thread = nullptr;
  co::Mutex write_mutex;          // records of concurrent requests interleave whole
  std::map<std::uint16_t, std::unique_ptr<RequestState>> requests;
  // Requests answered already (ABORT_REQUEST) whose handlers still run: out of `requests`,
  // so that the web server may reuse their ids, but alive until their handlers end.
  std::vector<std::unique_ptr<RequestState>> detached;
  // Requests answered before the web server finished sending their STDIN (a handler that
  // does not read the body, a 413): the connection is not closed until those streams end,
  // or the web server's next write would fail (cgi-fcgi exits with EPIPE; nginx answers 502).
  std::set<std::uint16_t> unfinished_stdin;
  std::size_t served = 0;
  bool close_after_requests = false;  // a request without FCGI_KEEP_CONN, or a limit reached
  bool broken = false;            // a write failed: no more output
  bool reading = false;           // parked waiting for input (so drain may wake it)
  co::WaitGroup handlers;         // request coroutines still running
  co::CondVar idle;               // signalled when a request ends

  // write_all sends bytes under write_mutex with the write timeout; false if the peer is gone,
  // or (with `req`) if that request's END_REQUEST went out while this write waited for the
  // mutex: nothing of a request may follow its END_REQUEST.
  bool write_all(const char* data, std::size_t size, const RequestState* req = nullptr);
  // remove_request forgets a request whose handler ended (in `requests` or `detached`).
  void remove_request(const RequestState* req);
  // quiet: no request in flight and no STDIN still to come.
  bool quiet() const { return requests.empty() && unfinished_stdin.empty(); }
};

// One per server thread: its scheduler runs the accept loop, connections and requests.
struct ThreadContext {
  Server::Impl* server = nullptr;
  int listen_fd = -1;
  bool draining = false;
  std::map<int, Connection*> connections;  // by fd, for the drain
  // Every connection reader of this thread reads into this buffer and copies out what it got
  // before it can be switched away (see ConnectionReader::run): a kept connection parked in
  // read then holds no buffer of its own.
  std::vector<char> read_scratch = std::vector<char>(64 * 1024);
};

}  // namespace co::cgi::detail

namespace co::cgi {

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  int listen_fd = -1;
  bool listen_is_unix = false;
  bool listen_is_tcp = false;
  mutable std::mutex bound_mutex;  // bound is read by bound_address() from any thread
  std::string bound;
  std::string unix_path;           // unlinked at exit when we created it
  std::vector<std::string> allowed_peers;  // FCGI_WEB_SERVER_ADDRS
  std::atomic<std::size_t> connections{0};
  std::atomic<std::size_t> requests_in_flight{0};
  std::atomic<int> threads_to_drain{0};       // the last thread to drain closes the listener
  std::atomic<bool> listen_closed{false};
  std::atomic<bool> stop_requested{false};
  int stop_eventfd = -1;           // written by stop() to wake the main thread
};

}  // namespace co::cgi
