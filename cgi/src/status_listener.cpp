#include "status_listener.h"

#include <unistd.h>

#include <chrono>

#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/response.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "status_monitor.h"
#include "status_page.h"
#include "thread_context.h"

namespace co::cgi::detail {
namespace {

// A few monitoring clients at once; more are closed at once (they are not the app's).
constexpr std::size_t kStatusConnections = 8;
// A thread that does not switch (a handler spinning) is shown as not answering after this,
// so the page still comes back well within a second.
constexpr std::chrono::milliseconds kThreadWait{200};

ServerOptions status_options(const ServerOptions& app) {
  ServerOptions o = app;
  o.listen = app.status_listen;
  o.max_connections = kStatusConnections;
  o.max_requests_in_flight = kStatusConnections;
  o.max_requests = 0;
  return o;
}

Handler status_handler(ServerMonitor& monitor) {
  return [&monitor](Request& request, Response& response) {
    const ServerOptions& o = monitor.options();
    if (!o.ping_path.empty() && request.path() == o.ping_path) {
      response.set_content_type("text/plain; charset=utf-8");
      response.set_header("Cache-Control", "no-store");
      response << o.ping_response << "\n";
      return;
    }
    answer_status(monitor, request, response, kThreadWait);
  };
}

}  // namespace

StatusListener::StatusListener(const ServerOptions& options, ServerMonitor& monitor) {
  state_.options = status_options(options);
  state_.handler = status_handler(monitor);
  listener_ = open_listener(state_.options);
  state_.listen_is_tcp = listener_.is_tcp;
}

StatusListener::~StatusListener() {
  stop();
  listener_.fd.reset();
  if (!listener_.unix_path.empty()) ::unlink(listener_.unix_path.c_str());
}

void StatusListener::start() {
  thread_ = std::thread([this] { serve(); });
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [this] { return ctx_ != nullptr; });
  co::log_printf(co::LogLevel::info, "serving the status page on %s", bound().c_str());
}

void StatusListener::serve() {
  ThreadContext ctx(state_, listener_.fd.get());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ctx_ = &ctx;
    executor_ = co::Executor::current();
  }
  ready_.notify_all();
  co::go([&ctx] { accept_loop(ctx); });
  co::run();
}

// stop: the status thread stops accepting, closes its connections once their answer is
// out, and ends.
void StatusListener::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ThreadContext* ctx = ctx_;
    executor_->post([ctx] { drain(*ctx, ThreadDrain::stop); });
  }
  thread_.join();
}

}  // namespace co::cgi::detail
