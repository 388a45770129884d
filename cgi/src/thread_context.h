// ThreadContext: one per server thread. Its scheduler runs the accept loop, the thread's
// connections (owned here) and their requests. Nothing in it is touched by another thread:
// the drain is posted to the thread's executor.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "connection.h"
#include "rate_limited_log.h"
#include "server_state.h"

namespace co::cgi::detail {

struct ThreadContext {
  ThreadContext(ServerState& s, int listen) : server(s), listen_fd(listen) {}

  ServerState& server;
  int listen_fd;  // the Server owns it
  bool draining = false;
  std::map<int, std::unique_ptr<Connection>> connections;  // by fd
  // Every reader of this thread reads into this buffer and copies out what it got before
  // it can be switched away: a kept connection parked in read holds no buffer of its own.
  std::vector<char> read_scratch = std::vector<char>(64 * 1024);
  // Warnings peers can trigger at will, one line per interval each, with a count.
  RateLimitedLog refused_log;   // connections refused (max_connections, FCGI_WEB_SERVER_ADDRS)
  RateLimitedLog overload_log;  // requests refused with FCGI_OVERLOADED
  RateLimitedLog protocol_log;  // malformed input, limits, deadlines
};

// accept_loop accepts connections until the thread drains, one coroutine each.
void accept_loop(ThreadContext& ctx);
// drain: stop accepting; connections end once quiet.
void drain(ThreadContext& ctx);

}  // namespace co::cgi::detail
