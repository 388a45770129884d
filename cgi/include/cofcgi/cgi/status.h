// Figures an app or an adapter adds to the status page (ServerOptions::status_path): a named
// block, e.g. the MySQL pool's, made by a function the server calls once per page, on the
// thread that renders it. The cgi layer knows nothing of what they mean (it does not link
// the adapters):
//
//   server.add_status_section("mysql_pool", [&pool] {
//     const co::mysql::Pool::Stats s = pool.stats();   // the whole process's pool
//     return co::cgi::StatusFigures{{"in_use", double(s.in_use)}, {"idle", double(s.idle)}};
//   });
//
// Rendered as "mysql_pool in_use: 3" (text), {"mysql_pool":{"in_use":3}} (JSON) and
// cofcgi_mysql_pool_in_use 3 (Prometheus). Names: [a-z0-9_].
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace co::cgi {

struct StatusFigure {
  std::string name;
  double value = 0;
};
using StatusFigures = std::vector<StatusFigure>;
// A section's function runs on a server thread, in a coroutine: it must not block the
// thread (no unhooked blocking call) and should be quick. Figures of the same name in one
// section are added up.
using StatusSection = std::function<StatusFigures()>;

}  // namespace co::cgi
