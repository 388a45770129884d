#include "server_logs.h"

#include <stdexcept>

#include "cofcgi/runtime/log.h"

namespace co::cgi::detail {

void open_logs(ServerState& state) {
  const ServerOptions& o = state.options;
  co::LogLevel level = co::LogLevel::info;
  if (!co::parse_log_level(o.log_level.c_str(), &level))
    throw std::invalid_argument("log_level: needs debug, info, warning, error or off, got '" +
                                o.log_level + "'");
  co::set_log_level(level);
  if (!o.error_log.empty()) co::set_log_file(o.error_log.c_str());
  if (o.access_log) state.access_log = std::make_unique<AccessLog>(o);
}

void reopen_logs(ServerState& state) {
  const bool access = state.access_log ? state.access_log->reopen() : true;
  const bool error = co::reopen_log_file();
  // The first line of the new error log (a test or an operator watching for it).
  if (access && error) co::log_printf(co::LogLevel::info, "reopened the log files");
}

}  // namespace co::cgi::detail
