// See techempower_stack.h.
#include "techempower_stack.h"

#include <mysql.h>

#include <stdexcept>

namespace techempower_test {

namespace {

cofcgi_test::MariadbServerOptions tfb_database_options() {
  cofcgi_test::MariadbServerOptions options;
  options.extra_args = {"--lower-case-table-names=1", "--character-set-server=utf8",
                        "--collation-server=utf8_general_ci"};
  return options;
}

// RootConnection: a blocking libmariadb connection as root over the unix socket.
class RootConnection {
 public:
  explicit RootConnection(const cofcgi_test::MariadbServer& db) : mysql_(mysql_init(nullptr)) {
    if (mysql_ == nullptr ||
        mysql_real_connect(mysql_, nullptr, cofcgi_test::MariadbServer::root_user(), nullptr,
                           nullptr, 0, db.socket_path().c_str(), 0) == nullptr)
      fail("connect as root");
  }
  ~RootConnection() { mysql_close(mysql_); }
  RootConnection(const RootConnection&) = delete;
  RootConnection& operator=(const RootConnection&) = delete;

  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) fail(sql);
    MYSQL_RES* result = mysql_store_result(mysql_);
    if (result == nullptr) fail(sql);
    std::vector<std::vector<std::string>> out;
    const unsigned columns = mysql_num_fields(result);
    while (MYSQL_ROW row = mysql_fetch_row(result)) {
      const unsigned long* lengths = mysql_fetch_lengths(result);
      std::vector<std::string>& values = out.emplace_back();
      for (unsigned i = 0; i < columns; ++i)
        values.emplace_back(row[i] ? std::string(row[i], lengths[i]) : std::string());
    }
    mysql_free_result(result);
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + (mysql_ ? mysql_error(mysql_) : "out of memory"));
  }
  MYSQL* mysql_;
};

}  // namespace

std::string schema_sql() { return cgi_test::read_file(COFCGI_TECHEMPOWER_SCHEMA); }

TechempowerStack::TechempowerStack(int threads, int pool) : db_(tfb_database_options()) {
  cgi_test::raise_fd_limit();
  db_.start();
  db_.admin_query(schema_sql());
  app_ = cgi_test::start_app(
      COFCGI_TECHEMPOWER_EXE, "unix:" + dir_.path() + "/app.sock",
      {"--threads", std::to_string(threads), "--mysql-host", db_.host(), "--mysql-port",
       std::to_string(db_.port()), "--mysql-user", "benchmarkdbuser", "--mysql-password",
       "benchmarkdbpass", "--mysql-db", "hello_world", "--pool", std::to_string(pool)},
      dir_.path() + "/app.log");
  cofcgi_test::NginxServerOptions options;
  options.upstream = app_.address;
  options.keepalive = 64;
  nginx_ = std::make_unique<cofcgi_test::NginxServer>(options);
  nginx_->start();
}

cgi_test::HttpResponse TechempowerStack::get(const std::string& target) const {
  return cgi_test::http_request(nginx_->host(), nginx_->port(), "GET", target);
}

std::map<std::string, long long> TechempowerStack::global_status() const {
  std::map<std::string, long long> values;
  for (const auto& row : RootConnection(db_).rows("SHOW GLOBAL STATUS")) {
    try {
      values[row.at(0)] = std::stoll(row.at(1));
    } catch (const std::exception&) {
      // Not a number (ON/OFF, names): not a counter.
    }
  }
  return values;
}

std::vector<std::vector<std::string>> TechempowerStack::query_rows(const std::string& sql) const {
  return RootConnection(db_).rows(sql);
}

}  // namespace techempower_test
