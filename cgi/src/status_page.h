// The status page (ServerOptions::status_path) and the ping path (ping_path), answered by
// the server itself before the app's handler sees the request. Formats, chosen by the query:
//   (none)                 text, one "name: value" per line (php-fpm's pm.status_path style)
//   ?json                  JSON
//   ?prometheus            Prometheus text exposition format 0.0.4
//   ?openmetrics           OpenMetrics 1.0 text (counters as *_total, "# EOF" at the end)
//   ?full                  (with any of them) every request in flight: method, URI, client,
//                          duration, what it waits on; ?full&backtrace adds each handler's
//                          backtrace
//   ?coroutines            text: every coroutine of every thread with its backtrace
// Figures are this process's, or the sum over the worker processes (worker_slots.h).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/response.h"
#include "server_state.h"
#include "status_snapshot.h"
#include "worker_slots.h"

namespace co::cgi::detail {

enum class StatusFormat { text, json, prometheus, openmetrics };

// StatusReport: everything one page shows.
struct StatusReport {
  WorkerTotals totals;
  std::int64_t now = 0;  // Unix seconds
  bool queue_known = false;
  std::uint32_t listen_queue = 0;
  std::uint32_t listen_queue_capacity = 0;
  std::vector<ThreadSnapshot> threads;
  std::vector<std::pair<std::string, StatusFigures>> sections;  // ServerMonitor::add_section
};

// thread_wait: how long a busy server thread may take to give its part (it then shows as
// not answering).
StatusReport make_status_report(ServerMonitor& monitor, unsigned parts,
                                std::chrono::milliseconds thread_wait);
std::string render_status(const StatusReport& report, StatusFormat format, bool full);
// answer_builtin_path answers the ping and status paths; false for any other request (and
// when the server has no monitor: a CGI run).
// answer_status answers the status page in the format the query asks for.
void answer_status(ServerMonitor& monitor, const Request& request, Response& response,
                   std::chrono::milliseconds thread_wait);
bool answer_builtin_path(const ServerState& server, const Request& request, Response& response);

}  // namespace co::cgi::detail
