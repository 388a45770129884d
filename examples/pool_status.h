// add_pool_status: the MySQL pool's figures on the status page (--status-path): connections
// open, idle and lent, coroutines waiting for one, and how long acquire() parked. Shared by
// the examples that use a co::mysql::Pool; cgi does not link the adapters, so the app adds
// the section (cofcgi/cgi/status.h).
#pragma once

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/cgi/server.h"

namespace examples {

inline void add_pool_status(co::cgi::Server& server, co::mysql::Pool& pool) {
  server.add_status_section("mysql_pool", [&pool] {
    const co::mysql::Pool::Stats s = pool.stats();
    const auto n = [](auto v) { return static_cast<double>(v); };
    return co::cgi::StatusFigures{
        {"max_open", n(s.max_open)},
        {"open", n(s.open)},
        {"idle", n(s.idle)},
        {"in_use", n(s.in_use)},
        {"waiting", n(s.waiting)},
        {"waits", n(s.waits)},
        {"wait_seconds_total", n(s.wait_ns_total) / 1e9},
        {"wait_seconds_max", n(s.wait_ns_max) / 1e9},
        {"connect_failures", n(s.connect_failures)},
        {"discarded", n(s.discarded)},
        {"acquire_timeouts", n(s.acquire_timeouts)},
    };
  });
}

}  // namespace examples
