// sleep_sql: answers /?s=SECONDS by running SELECT SLEEP(?) on MariaDB (a prepared statement,
// the number bound as a parameter) through the process's one connection pool, and returns
// the result. The handler is plain synchronous code; the pool and the hooks make every wait
// park only this request's coroutine. --pool N: connections for the whole process.
//   sleep_sql --listen 127.0.0.1:9000 --mysql-socket /run/mysqld/mysqld.sock --pool 300
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/cgi/server.h"
#include "mysql_args.h"
#include "pool_status.h"

namespace {

bool valid_seconds(const std::string& s) {
  if (s.empty() || s.size() > 12) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  return *end == '\0' && v >= 0 && v <= 600;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    co::mysql::Config config = examples::mysql_defaults();
    // Its one statement is a plain SELECT: a lease changes nothing, so the session and the
    // prepared statement stay (no reset, no re-prepare: one round trip per request).
    config.reset_only_when_changed = true;
    co::cgi::AppOptions app;
    examples::add_mysql_options(app, config);
    const co::cgi::ServerOptions options = co::cgi::parse_server_args(argc, argv, app);
    co::mysql::Pool pool(config);  // one for every server thread; connects on first use
    co::cgi::Server server(
        options, [&pool](co::cgi::Request& request, co::cgi::Response& response) {
          const std::string seconds = request.query("s").value_or("0");
          response.set_content_type("text/plain");
          if (!valid_seconds(seconds)) {
            response.send_error(400, "s must be a number of seconds between 0 and 600\n");
            return;
          }
          try {
            auto connection = pool.acquire();
            const co::mysql::Result result =
                connection.prepare("SELECT SLEEP(?)").execute(std::stod(seconds));
            response << "SLEEP(" << seconds << ") = " << result[0].get<std::string>(0) << "\n";
          } catch (const co::mysql::Error& e) {
            std::fprintf(stderr, "sleep_sql: %s\n", e.what());
            response.send_error(503, "database unavailable\n");
          }
        });
    examples::add_pool_status(server, pool);
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sleep_sql: %s\n", e.what());
    return 2;
  }
}
