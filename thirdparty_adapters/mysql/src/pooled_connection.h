// detail::PooledConnection: one pooled MYSQL* and what the pool knows about it. Shared by
// the pool and the prepared statements (which mark it broken on a connection error).
#pragma once

#include <mysql.h>

#include "cofcgi/runtime/wait_queue.h"
#include "statement_cache.h"

namespace co::mysql::detail {

struct PooledConnection {
  PooledConnection(MYSQL* m, std::size_t statement_cache_size, Deadline now)
      : mysql(m), statements(statement_cache_size), opened_at(now), idle_since(now) {}
  ~PooledConnection() {
    statements.clear();  // before mysql_close: COM_STMT_CLOSE on a live connection
    if (mysql) mysql_close(mysql);
  }
  PooledConnection(const PooledConnection&) = delete;
  PooledConnection& operator=(const PooledConnection&) = delete;

  MYSQL* mysql;
  StatementCache statements;
  Deadline opened_at;
  Deadline idle_since;
  bool broken = false;  // saw a connection error, or discard() was called
  // The lease took the raw MYSQL* (Connection::get()): it may have left a result unread in
  // a way only a command to the server reveals.
  bool raw_access = false;
  // The server's session state tracker is on (Config::reset_only_when_changed; off when the
  // server cannot): session_changed is then worth believing.
  bool session_tracked = false;
  // The current lease may have changed the session (session_effects.h); cleared by a reset.
  bool session_changed = false;
};

}  // namespace co::mysql::detail
