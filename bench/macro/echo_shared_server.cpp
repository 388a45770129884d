// echo_shared_server: a TCP echo server written against libco's C API (co_routine.h) in
// shared-stack mode, for bench/run's "connections" scenario: how many idle connections one
// thread holds, and what each costs in resident memory.
//
// One accept coroutine; one coroutine per connection doing plain blocking read()/write(),
// which cofcgi::hooks turns into "park this coroutine until the socket is ready". By default
// every connection coroutine runs on one of --share-stacks stacks of --stack-size bytes
// (co_alloc_sharestack + stCoRoutineAttr_t.share_stack): a parked connection keeps only a heap
// copy of the stack bytes it was using. --private gives each connection a stack of its own of
// --stack-size bytes instead (the comparison: at least one touched 4 KiB page each).
//
// Prints "listening HOST:PORT" on stdout once bound (port 0 picks a free one) and serves until
// SIGTERM or SIGINT. SIGUSR1 prints "connections LIVE accepted TOTAL ..." on stderr. At the
// fd limit (accept fails with EMFILE/ENFILE) it says so once, retries every 100 ms and keeps
// serving the connections it has.
//
// Usage: echo_shared_server [--listen 127.0.0.1:0] [--share-stacks 16] [--stack-size 131072]
//                           [--private]
#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iterator>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "co_routine.h"
#include "cofcgi/runtime/scheduler.h"  // co::stats() for the SIGUSR1 line
#include "net_util.h"

namespace {

// Bytes asked for per read. The buffer lives on the connection's stack, so in shared-stack
// mode it is part of the copy a parked connection keeps: small on purpose (a longer message
// just takes several reads). The copy starts at the deepest frame in use, the hook's park.
constexpr std::size_t kBufferSize = 512;
constexpr useconds_t kAcceptBackoffUs = 100 * 1000;
constexpr int kListenBacklog = 4096;  // the client opens its connections in bursts

struct Config {
  std::string listen = "127.0.0.1:0";
  int share_stacks = 16;
  int stack_size = 128 * 1024;
  bool private_stacks = false;
};

struct Server;

// Connection: one accepted socket and the coroutine serving it. Owned by Server::connections
// (a list, so that the coroutine's pointer to it stays valid and removal is O(1)).
struct Connection {
  bench::Fd fd;
  Server* server = nullptr;
  stCoRoutine_t* co = nullptr;
  std::list<Connection>::iterator self;
};

// Server: everything the coroutines share, owned by main (no global state). All of it is
// touched by this one thread only.
struct Server {
  Config config;
  bench::Fd listener;
  bench::Fd signals;                  // signalfd for SIGTERM, SIGINT, SIGUSR1
  stShareStack_t* shared = nullptr;   // null with --private; libco's API never frees it
  std::list<Connection> connections;  // live, plus finished ones until the loop releases them
  std::vector<Connection*> finished;  // their coroutine has returned: released by on_tick
  unsigned long long accepted = 0;
  unsigned long long accept_retries = 0;  // back-offs after EMFILE/ENFILE and other errors
  bool at_fd_limit = false;
  bool stopping = false;

  std::size_t live() const { return connections.size() - finished.size(); }
};

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);  // hooked: parks while the socket is full
    if (n < 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void* serve_connection(void* arg) {
  co_enable_hook_sys();  // co_create'd coroutines start with hooks off, as in libco
  auto* conn = static_cast<Connection*>(arg);
  char buffer[kBufferSize];
  for (;;) {
    const ssize_t n = read(conn->fd.get(), buffer, sizeof buffer);  // hooked: parks when idle
    if (n <= 0) break;  // 0: the peer closed; -1: reset or another error
    if (!write_all(conn->fd.get(), buffer, static_cast<std::size_t>(n))) break;
  }
  conn->fd.reset();  // give the fd back at once: the server may be at its limit
  // A coroutine cannot release itself: the event loop's tick does it once this one returned.
  conn->server->finished.push_back(conn);
  return nullptr;
}

void* accept_connections(void* arg) {
  co_enable_hook_sys();
  auto* server = static_cast<Server*>(arg);
  stCoRoutineAttr_t attr;
  attr.stack_size = server->config.stack_size;
  attr.share_stack = server->shared;
  while (!server->stopping) {
    // Hooked: the listener is blocking, so accept parks this coroutine until a client comes.
    const int fd = accept4(server->listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // EMFILE/ENFILE: the connection stays in the listen queue until an fd is free. Retrying
      // at once would spin (the listener stays readable), so park a while; the connections
      // already held are served meanwhile. Said once per episode, not once per retry.
      const bool fd_limit = errno == EMFILE || errno == ENFILE;
      if (!fd_limit || !server->at_fd_limit) {
        std::fprintf(stderr, "echo_shared_server: accept: %s with %zu connections%s\n",
                     std::strerror(errno), server->live(),
                     fd_limit ? "; retrying every 100 ms, existing connections still served" : "");
      }
      server->at_fd_limit = server->at_fd_limit || fd_limit;
      ++server->accept_retries;
      usleep(kAcceptBackoffUs);  // hooked: parks only this coroutine
      continue;
    }
    if (server->at_fd_limit) {
      std::fprintf(stderr, "echo_shared_server: accepting again, %zu connections\n",
                   server->live());
      server->at_fd_limit = false;
    }
    ++server->accepted;
    server->connections.emplace_back();
    Connection& conn = server->connections.back();
    conn.fd.reset(fd);
    conn.server = server;
    conn.self = std::prev(server->connections.end());
    if (co_create(&conn.co, &attr, &serve_connection, &conn) != 0) {
      std::fprintf(stderr, "echo_shared_server: co_create: %s; connection dropped\n",
                   std::strerror(errno));
      server->connections.erase(conn.self);  // closes the fd
      continue;
    }
    co_resume(conn.co);  // runs until its first read parks (or it is already done)
  }
  return nullptr;
}

void print_stats(const Server& server) {
  const co::Stats s = co::stats();
  std::fprintf(stderr,
               "connections %zu accepted %llu accept-retries %llu live-coroutines %zu "
               "polled-fds %zu\n",
               server.live(), server.accepted, server.accept_retries, s.live_coroutines,
               s.polled_fds);
}

void* watch_signals(void* arg) {
  co_enable_hook_sys();
  auto* server = static_cast<Server*>(arg);
  for (;;) {
    signalfd_siginfo info;
    const ssize_t n = read(server->signals.get(), &info, sizeof info);  // hooked: parks
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof info)) {
      std::fprintf(stderr, "echo_shared_server: signalfd read: %s; stopping\n",
                   n < 0 ? std::strerror(errno) : "short read");
      break;
    }
    if (info.ssi_signo == SIGUSR1) {
      print_stats(*server);
      continue;
    }
    break;  // SIGTERM or SIGINT
  }
  server->stopping = true;  // on_tick ends the event loop
  return nullptr;
}

// on_tick runs once per event-loop iteration: it releases the coroutines that returned and
// ends the loop once a stop was asked for.
int on_tick(void* arg) {
  auto* server = static_cast<Server*>(arg);
  for (Connection* conn : server->finished) {
    co_release(conn->co);
    server->connections.erase(conn->self);
  }
  server->finished.clear();
  return server->stopping ? -1 : 0;
}

bool parse_args(int argc, char** argv, Config* config) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--private") {
      config->private_stacks = true;
      continue;
    }
    if (value == nullptr) return false;
    ++i;
    if (arg == "--listen") {
      config->listen = value;
    } else if (arg == "--share-stacks") {
      const auto v = bench::parse_long(value, 1, 65536);
      if (!v) return false;
      config->share_stacks = static_cast<int>(*v);
    } else if (arg == "--stack-size") {
      const auto v = bench::parse_long(value, 16 * 1024, 64 * 1024 * 1024);
      if (!v) return false;
      config->stack_size = static_cast<int>(*v);
    } else {
      return false;
    }
  }
  return true;
}

// open_listener binds and listens on addr; returns the socket, and the bound address in
// *bound (the port the kernel picked for port 0).
bench::Fd open_listener(const sockaddr_in& addr, sockaddr_in* bound) {
  bench::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  const int one = 1;
  socklen_t len = sizeof *bound;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd.get(), kListenBacklog) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(bound), &len) != 0) {
    fd.reset();
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  Server server;
  if (!parse_args(argc, argv, &server.config)) {
    std::fprintf(stderr,
                 "usage: echo_shared_server [--listen HOST:PORT] [--share-stacks N] "
                 "[--stack-size BYTES] [--private]\n");
    return 2;
  }
  const std::optional<sockaddr_in> addr = bench::parse_endpoint(server.config.listen);
  if (!addr) {
    std::fprintf(stderr, "echo_shared_server: bad --listen %s (want A.B.C.D:PORT)\n",
                 server.config.listen.c_str());
    return 2;
  }
  const long fd_limit = bench::raise_fd_limit();

  // The signals are read from a signalfd by a coroutine: no handler, no global flag.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {
    std::perror("echo_shared_server: sigprocmask");
    return 1;
  }
  server.signals.reset(signalfd(-1, &mask, SFD_CLOEXEC));
  if (!server.signals) {
    std::perror("echo_shared_server: signalfd");
    return 1;
  }

  sockaddr_in bound{};
  server.listener = open_listener(*addr, &bound);
  if (!server.listener) {
    std::fprintf(stderr, "echo_shared_server: listen on %s: %s\n", server.config.listen.c_str(),
                 std::strerror(errno));
    return 1;
  }
  if (!server.config.private_stacks) {
    server.shared = co_alloc_sharestack(server.config.share_stacks, server.config.stack_size);
    if (server.shared == nullptr) {
      std::fprintf(stderr, "echo_shared_server: co_alloc_sharestack failed\n");
      return 1;
    }
  }

  stCoRoutine_t* acceptor = nullptr;
  stCoRoutine_t* watcher = nullptr;
  if (co_create(&acceptor, nullptr, &accept_connections, &server) != 0 ||
      co_create(&watcher, nullptr, &watch_signals, &server) != 0) {
    std::perror("echo_shared_server: co_create");
    return 1;
  }
  std::printf("listening %s\n", bench::endpoint_text(bound).c_str());
  if (server.config.private_stacks) {
    std::printf("private stacks of %d bytes, fd limit %ld\n", server.config.stack_size, fd_limit);
  } else {
    std::printf("%d shared stacks of %d bytes, fd limit %ld\n", server.config.share_stacks,
                server.config.stack_size, fd_limit);
  }
  std::fflush(stdout);
  co_resume(watcher);
  co_resume(acceptor);
  co_eventloop(co_get_epoll_ct(), &on_tick, &server);

  // Stopped: release every coroutine (parked ones included), then the fds close with their
  // connections.
  print_stats(server);
  for (Connection& conn : server.connections) co_release(conn.co);
  server.connections.clear();
  server.finished.clear();
  co_release(acceptor);
  co_release(watcher);
  std::fprintf(stderr, "echo_shared_server: stopped\n");
  return 0;
}
