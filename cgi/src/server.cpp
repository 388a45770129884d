// Server: the listener, N threads each with its own scheduler accepting on it, one
// coroutine per connection, signals and the graceful drain.
#include "cofcgi/cgi/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/sleep.h"
#include "cgi_environment.h"
#include "connection.h"
#include "io.h"
#include "listener.h"
#include "request_state.h"

namespace co::cgi {
namespace {

using detail::Connection;
using detail::ThreadContext;

std::vector<std::string> split_commas(const char* text) {
  std::vector<std::string> out;
  if (text == nullptr) return out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// FCGI_WEB_SERVER_ADDRS, as libfcgi applies it: TCP peers must be in the list.
bool peer_allowed(const Server::Impl& server, const sockaddr_storage& peer) {
  if (server.allowed_peers.empty() || !server.listen_is_tcp) return true;
  char text[INET6_ADDRSTRLEN] = {};
  if (peer.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr, text, sizeof text);
  } else if (peer.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr, text, sizeof text);
  }
  for (const std::string& allowed : server.allowed_peers) {
    if (allowed == text) return true;
  }
  return false;
}

void serve(ThreadContext& ctx, int fd) {
  Server::Impl& server = *ctx.server;
  Connection conn;
  conn.fd = fd;
  conn.thread = &ctx;
  ctx.connections[fd] = &conn;
  detail::serve_connection(conn);
  ctx.connections.erase(fd);
  co::fd_closing(fd);
  ::close(fd);
  server.connections.fetch_sub(1, std::memory_order_relaxed);
}

void accept_loop(ThreadContext& ctx) {
  Server::Impl& server = *ctx.server;
  bool warned_fd_limit = false;
  while (!ctx.draining) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(ctx.listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        co::WakeReason reason;
        if (co::wait_fd(ctx.listen_fd, POLLIN, co::kNoDeadline, &reason) != 0) co::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of fds: keep serving the connections we have, try again shortly.
        if (!warned_fd_limit) {
          co::log_printf(co::LogLevel::error, "accept: %s; serving existing connections, retrying",
                         std::strerror(errno));
          warned_fd_limit = true;
        }
        co::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      if (errno == ECONNABORTED || errno == EPROTO) continue;
      co::log_printf(co::LogLevel::error, "accept: %s", std::strerror(errno));
      co::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    warned_fd_limit = false;
    if (!peer_allowed(server, peer)) {
      co::log_printf(co::LogLevel::warning, "connection from an address not in FCGI_WEB_SERVER_ADDRS refused");
      ::close(fd);
      continue;
    }
    if (server.connections.fetch_add(1, std::memory_order_relaxed) >= server.options.max_connections) {
      server.connections.fetch_sub(1, std::memory_order_relaxed);
      co::log_printf(co::LogLevel::warning, "max_connections (%zu) reached; connection closed",
                     server.options.max_connections);
      ::close(fd);
      continue;
    }
    if (server.listen_is_tcp) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    co::Options options;
    options.name = "fastcgi-connection";
    co::go(options, [&ctx, fd] { serve(ctx, fd); });
  }
}

// drain runs on each server thread: stop accepting, close idle connections; busy ones close
// after their last response. The last thread to drain closes the listening socket: from then
// on connecting fails with ECONNREFUSED at once, instead of succeeding into a backlog nobody
// accepts from any more (nginx would wait there until the process exits, then get a reset).
// Closing only once every thread's accept loop has let go of the fd keeps each thread's
// epoll registration consistent (fd_closing before close). For a socket inherited from a
// supervisor (fd 0) this drops only our reference: siblings sharing it keep accepting.
void drain(ThreadContext& ctx) {
  ctx.draining = true;
  co::fd_closing(ctx.listen_fd);  // wakes this thread's accept loop, which then returns
  Server::Impl& server = *ctx.server;
  if (server.threads_to_drain.fetch_sub(1) == 1) {
    ::close(server.listen_fd);
    server.listen_closed.store(true);
  }
  for (auto& [fd, conn] : ctx.connections) {
    if (conn->quiet() && conn->reading) co::fd_closing(fd);
  }
}

}  // namespace

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  if (impl_->options.threads < 1) throw std::invalid_argument("threads must be at least 1");
  impl_->stop_eventfd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->stop_eventfd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

Server::~Server() {
  if (impl_->stop_eventfd >= 0) ::close(impl_->stop_eventfd);
}

void Server::stop() {
  impl_->stop_requested.store(true);
  const std::uint64_t one = 1;
  (void)::write(impl_->stop_eventfd, &one, sizeof one);
}

std::string Server::bound_address() const {
  std::lock_guard<std::mutex> lock(impl_->bound_mutex);
  return impl_->bound;
}

int Server::run() {
  Impl& impl = *impl_;
  ::signal(SIGPIPE, SIG_IGN);
  detail::Listener listener = detail::open_listener(impl.options);
  impl.listen_fd = listener.fd;
  impl.listen_is_tcp = listener.is_tcp;
  impl.listen_is_unix = listener.is_unix;
  {
    std::lock_guard<std::mutex> lock(impl.bound_mutex);
    impl.bound = listener.bound;
  }
  impl.unix_path = listener.unix_path;
  impl.allowed_peers = split_commas(std::getenv("FCGI_WEB_SERVER_ADDRS"));
  if (impl.options.cgi_environment) {
    if (!detail::cgi_environment_available()) {
      co::log_printf(co::LogLevel::warning, "cgi_environment needs cofcgi::hooks linked; getenv will not see requests");
    }
    detail::register_cgi_environment();
  }
  impl.threads_to_drain.store(impl.options.threads);
  impl.listen_closed.store(false);

  int signal_fd = -1;
  sigset_t old_mask;
  if (impl.options.handle_signals) {
    // Blocked in every server thread (they inherit the mask); read through a signalfd.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, &old_mask);
    signal_fd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
  }
  co::log_printf(co::LogLevel::info, "serving FastCGI on %s with %d thread%s", impl.bound.c_str(),
                 impl.options.threads, impl.options.threads == 1 ? "" : "s");

  // Every thread registers its scheduler and context, so the drain can reach them all.
  struct ThreadHandle {
    co::Executor executor;
    ThreadContext* ctx;
  };
  std::mutex threads_mutex;
  std::condition_variable threads_ready;
  std::vector<ThreadHandle> threads;
  auto watch_for_stop = [&] {
    pollfd fds[2] = {{impl.stop_eventfd, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    while (co::poll_fds(fds, signal_fd >= 0 ? 2 : 1, -1) <= 0) {
    }
    // Consume what woke us: a pending SIGTERM left in the signalfd would kill the process
    // when run() restores the signal mask.
    if (signal_fd >= 0) {
      signalfd_siginfo info;
      while (::read(signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        co::log_printf(co::LogLevel::info, "got %s", strsignal(static_cast<int>(info.ssi_signo)));
      }
    }
    co::log_printf(co::LogLevel::info, "stopping: draining in-flight requests (grace %lld ms)",
                   static_cast<long long>(impl.options.grace_period.count()));
    {
      std::lock_guard<std::mutex> lock(threads_mutex);
      for (const ThreadHandle& t : threads) {
        ThreadContext* ctx = t.ctx;
        t.executor.post([ctx] { drain(*ctx); });
      }
    }
    const co::Deadline give_up = co::deadline_after(impl.options.grace_period);
    while (impl.connections.load() > 0 || impl.requests_in_flight.load() > 0) {
      if (co::now_ns() >= give_up) {
        // Not a clean drain: requests were cut off. Say so in the exit status (a supervisor,
        // or a test running the server in-process, must not take this for success).
        co::log_printf(co::LogLevel::warning, "grace period over with %zu requests in flight; exiting with status 1",
                       impl.requests_in_flight.load());
        std::_Exit(1);
      }
      co::sleep_for(std::chrono::milliseconds(20));
    }
  };
  auto serve_thread = [&](bool is_main) {
    ThreadContext ctx;
    ctx.server = &impl;
    ctx.listen_fd = impl.listen_fd;
    {
      std::lock_guard<std::mutex> lock(threads_mutex);
      threads.push_back(ThreadHandle{co::Executor::current(), &ctx});
    }
    threads_ready.notify_all();
    co::go([&ctx] { accept_loop(ctx); });
    if (is_main) co::go(watch_for_stop);
    co::run();
  };
  std::vector<std::thread> workers;
  for (int i = 1; i < impl.options.threads; ++i) workers.emplace_back(serve_thread, false);
  {
    std::unique_lock<std::mutex> lock(threads_mutex);
    threads_ready.wait(lock, [&] { return threads.size() == static_cast<std::size_t>(impl.options.threads - 1); });
  }
  serve_thread(true);
  for (std::thread& t : workers) t.join();

  if (!impl.listen_closed.load()) ::close(impl.listen_fd);
  if (!impl.unix_path.empty()) ::unlink(impl.unix_path.c_str());
  if (signal_fd >= 0) {
    ::close(signal_fd);
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  }
  co::log_printf(co::LogLevel::info, "stopped");
  return 0;
}

ServerOptions parse_server_args(int argc, char** argv, std::vector<std::string>* rest) {
  ServerOptions o;
  auto number = [](const std::string& flag, const std::string& value) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0') throw std::invalid_argument(flag + " needs a number, got '" + value + "'");
    return n;
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    const std::size_t eq = arg.find('=');
    const bool has_inline = arg.rfind("--", 0) == 0 && eq != std::string::npos;
    if (has_inline) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto take_value = [&]() -> std::string {
      if (has_inline) return value;
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--listen") {
      o.listen = take_value();
    } else if (arg == "--threads") {
      o.threads = static_cast<int>(number(arg, take_value()));
      if (o.threads < 1 || o.threads > 1024) throw std::invalid_argument("--threads must be 1..1024");
    } else if (arg == "--max-body") {
      o.max_body = number(arg, take_value());
    } else if (arg == "--access-log") {
      o.access_log = true;
    } else if (arg == "--cgi-env") {
      o.cgi_environment = true;
    } else if (rest != nullptr) {
      rest->push_back(argv[i]);
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  return o;
}

}  // namespace co::cgi
