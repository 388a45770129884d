// ThreadContext: one per server thread. Its scheduler runs the accept loop, the thread's
// connections (owned here) and their requests. Nothing in it is touched by another thread:
// the drain is posted to the thread's executor.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "connection.h"
#include "rate_limited_log.h"
#include "request_registry.h"
#include "server_state.h"

namespace co::cgi::detail {

// ThreadDrain: how a thread stops serving. Either way it accepts no more connections.
//   none -> stop       a single process stops (SIGTERM): requests that still come on kept
//                      connections get FCGI_OVERLOADED, idle connections close at once.
//   none -> handover   a worker leaves (reload, the supervisor stops or died): another
//                      process accepts now, so requests that come on kept connections are
//                      served; each connection closes with the answer to its next request,
//                      or when the web server closes it; what is left at 3/4 of the grace
//                      period is closed (thread_context.cpp, close_idle_after_linger).
enum class ThreadDrain { none, stop, handover };

struct ThreadContext {
  ThreadContext(ServerState& s, int listen) : server(s), listen_fd(listen) {}

  ServerState& server;
  int listen_fd;  // the Server owns it
  ThreadDrain drain_state = ThreadDrain::none;
  bool draining() const { return drain_state != ThreadDrain::none; }
  bool refusing_requests() const { return drain_state == ThreadDrain::stop; }
  std::map<int, std::unique_ptr<Connection>> connections;  // by fd
  // Every reader of this thread reads into this buffer and copies out what it got before
  // it can be switched away: a kept connection parked in read holds no buffer of its own.
  std::vector<char> read_scratch = std::vector<char>(64 * 1024);
  // Warnings peers can trigger at will, one line per interval each, with a count.
  RateLimitedLog refused_log;   // connections refused (max_connections, FCGI_WEB_SERVER_ADDRS)
  RateLimitedLog overload_log;  // requests refused with FCGI_OVERLOADED
  RateLimitedLog protocol_log;  // malformed input, limits, deadlines
  RequestRegistry in_flight;    // requests whose handler runs (status page, slow log)
};

// accept_loop accepts connections until the thread drains, one coroutine each.
void accept_loop(ThreadContext& ctx);
// drain: stop accepting; connections end once quiet (see ThreadDrain).
void drain(ThreadContext& ctx, ThreadDrain how);

}  // namespace co::cgi::detail
