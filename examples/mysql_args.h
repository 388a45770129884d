// The MariaDB options the database examples share: --mysql-socket PATH, or --mysql-host H
// --mysql-port P; --mysql-user, --mysql-password, --mysql-db, --pool N.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "cofcgi/adapters/mysql_pool.h"

namespace examples {

// For --help (parse_server_args appends it to the server's options).
inline constexpr const char* kMysqlArgsHelp =
    "MariaDB options:\n"
    "  --mysql-socket PATH                unix socket of the server (or "
    "--mysql-host/--mysql-port)\n"
    "  --mysql-host HOST                        TCP host\n"
    "  --mysql-port PORT                        TCP port (default 3306)\n"
    "  --mysql-user USER                        (default root)\n"
    "  --mysql-password                         PW\n"
    "  --mysql-db                               NAME\n"
    "  --pool N                                 connections per server thread\n";

inline co::mysql::Config parse_mysql_args(const std::vector<std::string>& args) {
  co::mysql::Config config;
  config.user = "root";
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (i + 1 >= args.size())
      throw std::invalid_argument("unknown argument or missing value: " + flag);
    const std::string& value = args[++i];
    if (flag == "--mysql-socket")
      config.unix_socket = value;
    else if (flag == "--mysql-host")
      config.host = value;
    else if (flag == "--mysql-port")
      config.port = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--mysql-user")
      config.user = value;
    else if (flag == "--mysql-password")
      config.password = value;
    else if (flag == "--mysql-db")
      config.database = value;
    else if (flag == "--pool")
      config.max_connections = std::stoul(value);
    else
      throw std::invalid_argument("unknown argument " + flag);
  }
  if (config.max_connections == 0) throw std::invalid_argument("--pool must be at least 1");
  return config;
}

}  // namespace examples
