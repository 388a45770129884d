// ServerState: what every server thread shares: the settings, the handler and the
// process-wide counters (atomics; everything else is read-only once the threads run).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "access_log.h"
#include "cofcgi/cgi/handler.h"
#include "cofcgi/cgi/server_options.h"

namespace co::cgi::detail {

class ServerMonitor;

struct ServerState {
  ServerOptions options;
  Handler handler;
  bool listen_is_tcp = false;
  // Server::stop()'s eventfd (the Server owns it): a worker at --max-requests writes it.
  int stop_fd = -1;
  std::vector<std::string> allowed_peers;  // FCGI_WEB_SERVER_ADDRS
  std::atomic<std::size_t> connections{0};
  std::atomic<std::size_t> requests_in_flight{0};  // requests whose handler runs
  // Handlers ended (a worker's --max-requests).
  std::atomic<std::uint64_t> requests_done{0};
  std::atomic<std::size_t> buffered_body{0};    // every BodyBudget's bytes
  std::atomic<std::size_t> buffered_params{0};  // every request's PARAMS bytes
  ServerMonitor* monitor = nullptr;  // status, slow log, watchdog (status_monitor.h); null: CGI
  std::unique_ptr<AccessLog> access_log;  // null: off (server_logs.h)
};

}  // namespace co::cgi::detail
