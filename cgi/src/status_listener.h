// StatusListener: the status page and the ping path on a listener of their own
// (ServerOptions::status_listen), so they answer while the app is saturated. It has its own
// thread and scheduler, its own ServerState (its own connection and in-flight caps, no
// monitor: nothing it serves is counted on the page) and a handler that answers the ping path
// and, on any other path, the status page. Single process only (--workers 0): Server::run
// refuses status_listen with workers.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cofcgi/cgi/server_options.h"
#include "cofcgi/runtime/scheduler.h"
#include "listener.h"
#include "server_state.h"

namespace co::cgi::detail {

class ServerMonitor;
struct ThreadContext;

class StatusListener {
 public:
  // Binds options.status_listen (throws like open_listener); start() serves it.
  StatusListener(const ServerOptions& options, ServerMonitor& monitor);
  ~StatusListener();  // stops it
  StatusListener(const StatusListener&) = delete;
  StatusListener& operator=(const StatusListener&) = delete;

  void start();
  const std::string& bound() const { return listener_.bound; }

 private:
  void serve();
  void stop();

  Listener listener_;
  ServerState state_;
  std::thread thread_;
  // Set by the thread once its scheduler runs; stop() posts the drain to it.
  std::mutex mutex_;
  std::condition_variable ready_;
  ThreadContext* ctx_ = nullptr;
  std::optional<co::Executor> executor_;
};

}  // namespace co::cgi::detail
