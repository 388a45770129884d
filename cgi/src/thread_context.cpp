// A server thread's accept loop and drain, and the coroutine that serves each connection.
#include "thread_context.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <string>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/sleep.h"
#include "connection_reader.h"
#include "status_monitor.h"

namespace co::cgi::detail {
namespace {

// FCGI_WEB_SERVER_ADDRS, as libfcgi applies it: TCP peers must be in the list.
bool peer_allowed(const ServerState& server, const sockaddr_storage& peer) {
  if (server.allowed_peers.empty() || !server.listen_is_tcp) return true;
  char text[INET6_ADDRSTRLEN] = {};
  if (peer.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr, text, sizeof text);
  } else if (peer.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr, text,
                sizeof text);
  }
  for (const std::string& allowed : server.allowed_peers) {
    if (allowed == text) return true;
  }
  return false;
}

// serve runs in the connection's coroutine; the connection is destroyed (its socket closed)
// when its reader and every handler are done.
void serve(ThreadContext& ctx, Connection& conn) {
  serve_connection(conn);
  ctx.connections.erase(conn.fd());
  ctx.server.connections.fetch_sub(1, std::memory_order_relaxed);
}

// wait_after_accept_error: what accept4's failure means for the loop (it always goes on).
void wait_after_accept_error(ThreadContext& ctx, bool* warned_fd_limit) {
  const int error = errno;
  if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) {
    co::WakeReason reason;
    if (co::wait_fd(ctx.listen_fd, POLLIN, co::kNoDeadline, &reason) != 0) {
      co::sleep_for(std::chrono::milliseconds(10));
    }
    return;
  }
  if (error == ECONNABORTED || error == EPROTO) return;
  const bool out_of_fds = error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
  // Out of fds: keep serving the connections we have, try again shortly; say so once.
  if (!out_of_fds || !*warned_fd_limit) {
    co::log_printf(co::LogLevel::error, "accept: %s%s", std::strerror(error),
                   out_of_fds ? "; serving existing connections, retrying" : "");
  }
  if (out_of_fds) *warned_fd_limit = true;
  co::sleep_for(std::chrono::milliseconds(50));
}

// admit takes an accepted socket into the thread, or refuses it (closing it).
void admit(ThreadContext& ctx, co::UniqueFd fd, const sockaddr_storage& peer) {
  ServerState& server = ctx.server;
  if (!peer_allowed(server, peer)) {
    ctx.refused_log.warn("connection from an address not in FCGI_WEB_SERVER_ADDRS refused");
    return;
  }
  if (server.connections.fetch_add(1, std::memory_order_relaxed) >=
      server.options.max_connections) {
    server.connections.fetch_sub(1, std::memory_order_relaxed);
    ctx.refused_log.warn("max_connections (%zu) reached; connection closed",
                         server.options.max_connections);
    return;
  }
  count(server.monitor, &WorkerCounters::accepted_connections);
  if (server.listen_is_tcp) {
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  const int key = fd.get();
  auto owned = std::make_unique<Connection>(std::move(fd), ctx);
  Connection& conn = *owned;
  ctx.connections[key] = std::move(owned);
  co::Options options;
  options.name = "fastcgi-connection";
  co::go(options, [&ctx, &conn] { serve(ctx, conn); });
}

// close_idle_after_linger: a connection idle when the handover began is not closed by us: nginx
// may take it from its keepalive cache and write a request at any moment (no round trip), and
// a close crossing that request fails it (nginx retries a GET, but counts a failure against
// max_fails). So it stays until nginx uses it (that request is served, then it closes with
// the answer: close_after_requests) or closes it (its upstream keepalive_timeout), and only
// 3/4 of the grace period in do we close what is left.
void close_idle_after_linger(ThreadContext& ctx) {
  const co::Deadline end = co::deadline_after(ctx.server.options.grace_period * 3 / 4);
  while (!ctx.connections.empty() && co::now_ns() < end) {
    co::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& [fd, conn] : ctx.connections) conn->close_after_requests();
}

}  // namespace

void accept_loop(ThreadContext& ctx) {
  bool warned_fd_limit = false;
  while (!ctx.draining()) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(ctx.listen_fd, reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      wait_after_accept_error(ctx, &warned_fd_limit);
      continue;
    }
    warned_fd_limit = false;
    admit(ctx, co::UniqueFd(fd), peer);
  }
}

void drain(ThreadContext& ctx, ThreadDrain how) {
  ctx.drain_state = how;
  // Wakes this thread's accept loop, which then returns; the Server closes the socket once
  // every thread let go of it.
  co::fd_closing(ctx.listen_fd);
  if (how == ThreadDrain::stop) {
    for (auto& [fd, conn] : ctx.connections) {
      if (conn->alive() == 0) conn->wake_reader();
    }
    return;
  }
  for (auto& [fd, conn] : ctx.connections) {
    if (conn->alive() != 0) conn->close_after_requests();
  }
  co::Options options;
  options.name = "fastcgi-handover-linger";
  co::go(options, [&ctx] { close_idle_after_linger(ctx); });
}

}  // namespace co::cgi::detail
