#include "slow_log.h"

#include <cstdio>
#include <string>

#include "status_snapshot.h"
#include "thread_context.h"

namespace co::cgi::detail {
namespace {

void log_entry(ServerMonitor& monitor, InFlight& entry, int thread, std::int64_t now_ns) {
  const RequestSnapshot r = snapshot_request(entry, monitor, true, now_ns);
  const std::uint64_t left_out = monitor.take_suppressed();
  char line[1024];
  std::snprintf(line, sizeof line,
                "slow request: %s %s from %s, %.3f s, thread %d, coroutine #%llu, %s%s%s%s",
                r.method.c_str(), r.uri.c_str(), r.client.c_str(), r.seconds, thread,
                static_cast<unsigned long long>(r.coroutine_id),
                r.waiting == "running" ? "" : "waiting on ", r.waiting.c_str(),
                left_out > 0 ? "; slow requests not logged since the last entry: " : "",
                left_out > 0 ? std::to_string(left_out).c_str() : "");
  monitor.log_with_frames(line, r.backtrace);
}

int thread_index(ServerMonitor& monitor, const ThreadContext& ctx) {
  for (const MonitoredThread& t : monitor.threads())
    if (t.ctx == &ctx) return t.index;
  return 0;
}

}  // namespace

void log_slow_requests(ThreadContext& ctx, ServerMonitor& monitor, std::int64_t now_ns) {
  const std::int64_t limit_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(monitor.options().slow_request_timeout)
          .count();
  int thread = -1;
  ctx.in_flight.for_each([&](InFlight& e) {
    if (e.slow_logged || now_ns - e.request->started_ns < limit_ns) return;
    e.slow_logged = true;
    count(&monitor, &WorkerCounters::slow_requests);
    if (!monitor.take_slow_log_token(now_ns)) return;
    if (thread < 0) thread = thread_index(monitor, ctx);
    log_entry(monitor, e, thread, now_ns);
  });
}

}  // namespace co::cgi::detail
