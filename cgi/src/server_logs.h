// The server's two logs: the error log (co::log_printf, fd 2, optionally a file) and the
// access log (AccessLog). open_logs applies ServerOptions' log settings when a server starts;
// reopen_logs is SIGUSR1's work (logrotate's postrotate; a supervisor forwards it).
#pragma once

#include "server_state.h"

namespace co::cgi::detail {

// open_logs sets the log level, points fd 2 at error_log when set, and opens the access log
// when access_log is on. Throws std::system_error naming a file it cannot open.
void open_logs(ServerState& state);
// reopen_logs opens both files again (each keeps its old file when that fails: logged).
void reopen_logs(ServerState& state);

}  // namespace co::cgi::detail
