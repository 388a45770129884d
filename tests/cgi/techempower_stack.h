// TechempowerStack: what the examples/techempower tests run against, as TechEmpower's
// toolset sets it up: a private mariadbd started with TFB my.cnf's settings
// (lower_case_table_names=1, utf8 server charset), examples/techempower_schema.sql loaded,
// the app connecting as TFB's benchmarkdbuser over TCP, and nginx in front (the Date and
// Server headers TFB requires come from nginx).
//
// The test binary links the hooks: the HTTP helpers are plain blocking code, and inside
// co::go coroutines they park, so a test can hold hundreds of requests in flight on one
// thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cgi_test_util.h"
#include "mariadb_server.h"
#include "nginx_server.h"

namespace techempower_test {

class TechempowerStack {
 public:
  // Starts everything; `pool` is the app's --pool (the connections of its one pool).
  explicit TechempowerStack(int threads = 2, int pool = 16);

  cofcgi_test::MariadbServer& db() { return db_; }
  cgi_test::App& app() { return app_; }
  std::uint16_t port() const { return nginx_->port(); }

  // get: GET `target` through nginx (Connection: close).
  cgi_test::HttpResponse get(const std::string& target) const;
  // global_status: SHOW GLOBAL STATUS values by name (as root over the unix socket).
  std::map<std::string, long long> global_status() const;
  // query_rows: the rows of a SELECT run as root, each column as text.
  std::vector<std::vector<std::string>> query_rows(const std::string& sql) const;

 private:
  cofcgi_test::MariadbServer db_;
  cgi_test::TempDir dir_;
  cgi_test::App app_;
  std::unique_ptr<cofcgi_test::NginxServer> nginx_;
};

// schema_sql: examples/techempower_schema.sql.
std::string schema_sql();

}  // namespace techempower_test
