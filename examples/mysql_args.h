// The MariaDB options the database examples share: --mysql-socket PATH, or --mysql-host H
// --mysql-port P; --mysql-user, --mysql-password, --mysql-db, --pool N. They are rows of the
// option table (co::cgi::AppOptions), so a --config file sets them too, in a [mysql] table:
//
//   [mysql]
//   socket = "/run/mysqld/mysqld.sock"
//   user = "app"
//   db = "app"
//   pool = 16
//
// Use: co::mysql::Config db = examples::mysql_defaults(); co::cgi::AppOptions app;
// examples::add_mysql_options(app, db); parse_server_args(argc, argv, app);
// examples::check_mysql_config(db).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/cgi/options.h"

namespace examples {

// mysql_defaults: the examples connect as root unless told otherwise.
inline co::mysql::Config mysql_defaults() {
  co::mysql::Config config;
  config.user = "root";
  return config;
}

// add_mysql_options adds the --mysql-* and --pool rows, bound to `config` (which must outlive
// the parse). Their keys are in the file's [mysql] table.
inline void add_mysql_options(co::cgi::AppOptions& app, co::mysql::Config& config) {
  using co::cgi::integer_option;
  using co::cgi::text_option;
  const char* section = "MariaDB";
  app.add(text_option("mysql-socket", &config.unix_socket, "PATH",
                      "unix socket of the server (or --mysql-host/--mysql-port)"))
      .with_key("mysql.socket")
      .in_section(section);
  app.add(text_option("mysql-host", &config.host, "HOST", "TCP host"))
      .with_key("mysql.host")
      .in_section(section);
  app.add(integer_option("mysql-port", &config.port, 1, 65535, "TCP port"))
      .with_key("mysql.port")
      .in_section(section);
  app.add(text_option("mysql-user", &config.user, "USER", "user name"))
      .with_key("mysql.user")
      .in_section(section);
  app.add(text_option("mysql-password", &config.password, "PW", "password"))
      .with_key("mysql.password")
      .in_section(section);
  app.add(text_option("mysql-db", &config.database, "NAME", "database"))
      .with_key("mysql.db")
      .in_section(section);
  app.add(integer_option("pool", &config.max_connections, 1, 100000,
                         "connections for the whole process (one pool, all threads)"))
      .with_key("mysql.pool")
      .in_section(section);
  app.add(co::cgi::flag_option("mysql-reset-only-when-changed", &config.reset_only_when_changed,
                               "reset a pooled session only after a lease that may have "
                               "changed it (keeps prepared statements)"))
      .with_key("mysql.reset_only_when_changed")
      .in_section(section);
}

// For --help when the MariaDB options are parsed from `rest` (parse_mysql_args below).
inline constexpr const char* kMysqlArgsHelp =
    "MariaDB options:\n"
    "  --mysql-socket PATH                      unix socket of the server (or "
    "--mysql-host/--mysql-port)\n"
    "  --mysql-host HOST                        TCP host\n"
    "  --mysql-port PORT                        TCP port (default 3306)\n"
    "  --mysql-user USER                        (default root)\n"
    "  --mysql-password PW\n"
    "  --mysql-db NAME\n"
    "  --pool N                                 connections for the whole process\n";

// parse_mysql_args: the older way, from the arguments parse_server_args left in `rest`
// (command line only; add_mysql_options reads the --config file too).
inline co::mysql::Config parse_mysql_args(const std::vector<std::string>& args) {
  co::mysql::Config config = mysql_defaults();
  co::cgi::AppOptions app;
  add_mysql_options(app, config);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const co::cgi::Option* row = nullptr;
    for (const co::cgi::Option& r : app.rows()) {
      if (args[i] == "--" + r.flag) row = &r;
    }
    if (row == nullptr) throw std::invalid_argument("unknown argument " + args[i]);
    if (i + 1 >= args.size()) throw std::invalid_argument(args[i] + " needs a value");
    try {
      row->set(args[++i]);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(args[i - 1] + ": " + e.what());
    }
  }
  return config;
}

}  // namespace examples
