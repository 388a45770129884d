// Server: the listener, N threads each with its own scheduler and ThreadContext, signals and
// the graceful drain.
#include "cofcgi/cgi/server.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "cgi_environment.h"
#include "cgi_run.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/sleep.h"
#include "inherited_sockets.h"
#include "listener.h"
#include "reload.h"
#include "run_mode.h"
#include "server_logs.h"
#include "server_state.h"
#include "signals.h"
#include "status_listener.h"
#include "status_monitor.h"
#include "supervisor.h"
#include "thread_context.h"
#include "thread_monitor.h"
#include "worker.h"

namespace co::cgi {
namespace {

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

}  // namespace

struct Server::Impl {
  // A server thread as the drain reaches it.
  struct ThreadHandle {
    co::Executor executor;
    ThreadContext* ctx;
  };

  detail::ServerState state;
  detail::Listener listener;
  mutable std::mutex bound_mutex;  // bound is read by bound_address() from any thread
  std::string bound;
  co::UniqueFd stop_eventfd;             // written by stop() to wake the main thread
  std::atomic<int> threads_to_drain{0};  // the last thread to drain closes the listener
  std::mutex threads_mutex;
  std::condition_variable threads_ready;
  std::vector<ThreadHandle> threads;
  // Where the listening socket comes from when not bound here: the supervisor (this is a
  // worker), or systemd / a reloading master (inherited_sockets.h).
  std::optional<detail::WorkerRole> worker;
  std::optional<detail::Listener> inherited;
  // Status page, slow log, watchdog (status_monitor.h); state.monitor points at it.
  std::unique_ptr<detail::ServerMonitor> monitor;
  co::UniqueFd reload_ready;  // started by a reload without workers: tell the old master
  std::unique_ptr<detail::StatusListener> status_listener;  // status_listen (status_listener.h)

  void open();
  void announce_serving();
  void serve_thread(bool is_main, detail::StopSignals* signals);
  void watch_for_stop(detail::StopSignals* signals);
  void drain_thread(ThreadContext& ctx, detail::ThreadDrain how);
  void wait_for_drain();
};

void Server::Impl::open() {
  if (worker) {
    listener = std::move(worker->listener);
  } else if (inherited) {
    listener = std::move(*inherited);
  } else {
    listener = detail::open_listener(state.options);
  }
  state.listen_is_tcp = listener.is_tcp;
  {
    std::lock_guard<std::mutex> lock(bound_mutex);
    bound = listener.bound;
  }
  state.allowed_peers = split_commas(std::getenv("FCGI_WEB_SERVER_ADDRS"));
  if (state.options.cgi_environment) {
    if (!detail::cgi_environment_available()) {
      co::log_printf(co::LogLevel::warning,
                     "cgi_environment needs cofcgi::hooks linked; getenv will not see requests");
    }
    detail::register_cgi_environment();
  }
  threads_to_drain.store(state.options.threads);
  state.stop_fd = stop_eventfd.get();  // --max-requests reached: a worker leaves (worker.h)
  // A worker counts into its slot of the supervisor's shared counters (worker_slots.h).
  if (worker && worker->slots.count() > 0)
    monitor->use_worker_slot(&worker->slots, static_cast<std::size_t>(worker->index));
  monitor->start(listener.fd.get());
  if (!state.options.status_listen.empty()) {
    status_listener = std::make_unique<detail::StatusListener>(state.options, *monitor);
    status_listener->start();
  }
}

// announce_serving: every thread accepts; a worker tells its supervisor, a process started
// by a reload tells the old master.
void Server::Impl::announce_serving() {
  if (worker) {
    detail::tell_serving(*worker);
  } else {
    detail::announce_serving(reload_ready);
  }
}

// serve_thread runs one server thread's scheduler until its accept loop and connections end.
void Server::Impl::serve_thread(bool is_main, detail::StopSignals* signals) {
  ThreadContext ctx(state, listener.fd.get());
  {
    std::lock_guard<std::mutex> lock(threads_mutex);
    threads.push_back(ThreadHandle{co::Executor::current(), &ctx});
  }
  threads_ready.notify_all();
  const detail::ThreadMonitor monitoring(state.monitor, ctx);  // until co::run() is over
  co::go([&ctx] { detail::accept_loop(ctx); });
  if (is_main) co::go([this, signals] { watch_for_stop(signals); });
  co::run();
}

// watch_for_stop waits for stop() or a stop signal, then drains every thread.
// A worker also stops when its supervisor is gone (the lifeline pipe ends): it must not serve
// on as an orphan nobody restarts or reloads.
void Server::Impl::watch_for_stop(detail::StopSignals* signals) {
  for (;;) {
    pollfd fds[3];
    nfds_t n = 0;
    fds[n++] = {stop_eventfd.get(), POLLIN, 0};
    const nfds_t lifeline_at = n;
    if (worker) fds[n++] = {worker->lifeline.get(), POLLIN, 0};
    const nfds_t signals_at = n;
    if (signals) fds[n++] = {signals->fd(), POLLIN, 0};
    if (co::poll_fds(fds, n, -1) <= 0) continue;
    if (fds[0].revents != 0) break;
    if (worker && fds[lifeline_at].revents != 0) {
      co::log_printf(co::LogLevel::warning, "worker %d: the supervisor is gone; leaving",
                     worker->index);
      break;
    }
    if (signals && fds[signals_at].revents != 0 && signals->take_stop()) break;
  }
  co::log_printf(co::LogLevel::info, "stopping: draining in-flight requests (grace %lld ms)",
                 static_cast<long long>(state.options.grace_period.count()));
  // A worker hands over: the socket stays open in the supervisor and its other processes.
  const detail::ThreadDrain how =
      worker ? detail::ThreadDrain::handover : detail::ThreadDrain::stop;
  {
    std::lock_guard<std::mutex> lock(threads_mutex);
    for (const ThreadHandle& t : threads) {
      ThreadContext* ctx = t.ctx;
      t.executor.post([this, ctx, how] { drain_thread(*ctx, how); });
    }
  }
  wait_for_drain();
}

// drain_thread: stop accepting, close idle connections; busy ones close after their last
// response. The last thread to drain closes the listening socket: from then on connecting
// fails with ECONNREFUSED at once, instead of succeeding into a backlog nobody accepts from
// any more (nginx would wait there until the process exits, then get a reset). For a socket
// inherited from a supervisor (fd 0) this drops only our duplicate: siblings keep accepting.
void Server::Impl::drain_thread(ThreadContext& ctx, detail::ThreadDrain how) {
  detail::drain(ctx, how);
  if (threads_to_drain.fetch_sub(1) == 1) listener.fd.reset();
}

void Server::Impl::wait_for_drain() {
  const co::Deadline give_up = co::deadline_after(state.options.grace_period);
  while (state.connections.load() > 0 || state.requests_in_flight.load() > 0) {
    if (co::now_ns() >= give_up) {
      // Not a clean drain: requests were cut off. Say so in the exit status (a supervisor,
      // or a test running the server in-process, must not take this for success).
      co::log_printf(co::LogLevel::warning,
                     "grace period over with %zu requests in flight; exiting with status 1",
                     state.requests_in_flight.load());
      std::_Exit(1);
    }
    co::sleep_for(std::chrono::milliseconds(20));
  }
}

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->state.options = std::move(options);
  impl_->state.handler = std::move(handler);
  impl_->monitor = std::make_unique<detail::ServerMonitor>(impl_->state.options);
  impl_->state.monitor = impl_->monitor.get();
  if (impl_->state.options.threads < 1) throw std::invalid_argument("threads must be at least 1");
  // Served by one process's own thread: with workers, whose would it be (status_listener.h).
  if (impl_->state.options.workers > 0 && !impl_->state.options.status_listen.empty())
    throw std::invalid_argument("status_listen needs workers 0 (a single process)");
  impl_->stop_eventfd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!impl_->stop_eventfd) throw std::system_error(errno, std::generic_category(), "eventfd");
}

Server::~Server() = default;

void Server::stop() {
  const std::uint64_t one = 1;
  (void)::write(impl_->stop_eventfd.get(), &one, sizeof one);
}

void Server::add_status_section(std::string name, StatusSection section) {
  impl_->monitor->add_section(std::move(name), std::move(section));
}

std::string Server::bound_address() const {
  std::lock_guard<std::mutex> lock(impl_->bound_mutex);
  return impl_->bound;
}

int Server::run() {
  Impl& impl = *impl_;
  ::signal(SIGPIPE, SIG_IGN);
  detail::open_logs(impl.state);  // --error-log, --log-level, --access-log (server_logs.h)
  const ServerOptions& options = impl.state.options;
  // A socket systemd or a reloading master passed wins over the other signs (run_mode.h).
  if (!options.cgi) impl.inherited = detail::take_inherited_listener();
  if (!impl.inherited) {
    const detail::RunModeChoice mode = detail::choose_run_mode(options);
    if (mode.mode == detail::RunMode::cgi) return detail::run_cgi(impl.state);
    if (!mode.why.empty()) co::log_printf(co::LogLevel::info, "%s", mode.why.c_str());
  }
  if (options.workers > 0) {
    detail::Listener listener =
        impl.inherited ? std::move(*impl.inherited) : detail::open_listener(options);
    impl.inherited.reset();
    detail::SupervisorOutcome outcome = detail::run_supervisor(options, std::move(listener));
    if (!outcome.worker) return outcome.exit_code;
    impl.worker = std::move(outcome.worker);  // a forked worker: serve as one process does
    // Its own: the supervisor's eventfd is shared by every fork of it.
    impl.stop_eventfd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!impl.stop_eventfd) throw std::system_error(errno, std::generic_category(), "eventfd");
  } else {
    impl.reload_ready = detail::take_reload_ready_fd();
  }
  impl.open();
  std::optional<detail::StopSignals> signals;
  if (impl.state.options.handle_signals) signals.emplace();
  if (signals) signals->on_reopen = [&impl] { detail::reopen_logs(impl.state); };
  const int threads = impl.state.options.threads;
  co::log_printf(co::LogLevel::info, "serving FastCGI on %s with %d thread%s", impl.bound.c_str(),
                 threads, threads == 1 ? "" : "s");
  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i)
    workers.emplace_back([&impl] { impl.serve_thread(false, nullptr); });
  {
    // Every thread has registered before the main one can start a drain.
    std::unique_lock<std::mutex> lock(impl.threads_mutex);
    impl.threads_ready.wait(
        lock, [&] { return impl.threads.size() == static_cast<std::size_t>(threads - 1); });
  }
  impl.announce_serving();
  impl.serve_thread(true, signals ? &*signals : nullptr);
  for (std::thread& t : workers) t.join();
  impl.threads.clear();
  impl.status_listener.reset();
  impl.listener.fd.reset();
  if (!impl.listener.unix_path.empty()) ::unlink(impl.listener.unix_path.c_str());
  co::log_printf(co::LogLevel::info, "stopped");
  return 0;
}

}  // namespace co::cgi
