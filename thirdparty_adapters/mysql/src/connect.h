// Opening, checking and resetting one pooled connection, each bounded by a deadline: a
// server that stopped answering (SIGSTOP, a half-open TCP connection) costs at most the time
// left, not libmariadb's read timeout.
#pragma once

#include <mysql.h>

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/runtime/wait_queue.h"
#include "pooled_connection.h"

namespace co::mysql::detail {

// open_connection connects with the Config's options (then Config::set_options) and
// returns the handle; throws co::mysql::Error (connection_broken()) on failure. With
// Config::reset_only_when_changed it turns the server's session tracker on and says in
// *session_tracked whether that worked.
MYSQL* open_connection(const Config& config, Deadline deadline, bool* session_tracked);

// healthy: an idle connection is fit to lend: nothing to read on its socket (EOF or an error
// packet means the server closed or killed it; asked of the kernel unless this thread's
// netpoller knows the socket is empty), not past max_lifetime, and it answers a
// ping when it has been idle longer than ping_after_idle.
bool healthy(const Config& config, PooledConnection& c, Deadline deadline);

// make_reusable: when a lease ends, read the result sets it left, then reset the session
// (Config::reset_session; with reset_only_when_changed only when the lease may have changed
// it) or roll back an open transaction. false: close it instead.
bool make_reusable(const Config& config, PooledConnection& c, Deadline deadline);

}  // namespace co::mysql::detail
