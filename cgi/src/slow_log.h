// The slow log: a request whose handler runs past ServerOptions::slow_request_timeout gets
// one entry: method, URI, client, duration, what it waits on, and its handler's backtrace,
// walked in-process from the parked coroutine's saved registers (co::Backtracer). At most
// slow_log_rate entries per second per process: in a storm (every request slow) the others
// are counted in slow_requests and the next entry says how many were left out, so the cost
// stays bounded. A handler that runs without switching is the watchdog's (watchdog.h).
#pragma once

#include <cstdint>

namespace co::cgi::detail {

struct ThreadContext;
class ServerMonitor;

// log_slow_requests looks at the calling thread's requests in flight and logs those that
// became slow since the last look.
void log_slow_requests(ThreadContext& ctx, ServerMonitor& monitor, std::int64_t now_ns);

}  // namespace co::cgi::detail
