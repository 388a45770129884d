// Snapshots of the server threads for the status page, the slow log and the coroutine dump.
// A thread's requests and coroutines are read only on that thread: gather_threads posts a
// job to each other thread (co::Executor) and waits for the answers on eventfds, so the hot
// path takes no lock. A thread that does not answer in time (it runs something that does not
// switch) is reported as such instead of holding the page.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cofcgi/cgi/status.h"
#include "cofcgi/runtime/scheduler.h"
#include "request_registry.h"
#include "status_monitor.h"

namespace co::cgi::detail {

enum SnapshotPart : unsigned {
  kSnapshotCounts = 0,
  kSnapshotRequests = 1,    // every request in flight
  kSnapshotBacktraces = 2,  // ... with its handler's backtrace
  kSnapshotCoroutines = 4,  // every coroutine, with its backtrace
};

struct RequestSnapshot {
  std::string method;
  std::string uri;
  std::string client;   // REMOTE_ADDR:REMOTE_PORT
  double seconds = 0;   // since BEGIN_REQUEST
  std::string waiting;  // "recv fd 12 from 127.0.0.1:3306", "running", ...
  std::uint64_t coroutine_id = 0;
  std::string backtrace;  // format_frames, when asked for
};

struct ThreadSnapshot {
  int thread = 0;
  bool answered = false;
  co::Stats stats;
  co::StackFigures stacks;
  std::size_t connections = 0;
  std::vector<RequestSnapshot> requests;
  std::string coroutines;  // the dump, when asked for
};

// snapshot_request describes one request in flight of the calling thread.
RequestSnapshot snapshot_request(InFlight& entry, ServerMonitor& monitor, bool backtrace,
                                 std::int64_t now_ns);
// snapshot_thread describes the calling thread (ctx must be its context).
ThreadSnapshot snapshot_thread(ThreadContext& ctx, ServerMonitor& monitor, int index,
                               unsigned parts);
// gather_threads: a snapshot of every server thread, the caller's own included. Call it
// from a coroutine (it parks while the others answer).
std::vector<ThreadSnapshot> gather_threads(ServerMonitor& monitor, unsigned parts,
                                           std::chrono::milliseconds wait);

}  // namespace co::cgi::detail
