// What a lease may have left in its server session, for Config::reset_only_when_changed:
// the pool skips the session reset (and so keeps the connection's prepared statements) only
// for a lease that provably left the session as it found it. Two witnesses, both needed:
// - the server's session state tracker (session_track_state_change, turned on per
//   connection): it reports SET of session or user variables, temporary tables, SQL-level
//   PREPARE, USE, also from inside stored routines;
// - the statement text (may_change_session): what the tracker does not report (named locks,
//   LOCK TABLES, user variables assigned inside an expression, SET TRANSACTION) can only come
//   from statements that are not one plain SELECT/INSERT/UPDATE/DELETE/REPLACE/WITH free of
//   '@', ':=', "lock" and ';' (or from a stored function such a statement calls: documented).
// An open transaction at release, a failed statement, or the raw MYSQL* taken also count.
#pragma once

#include <mysql.h>

#include <string_view>

namespace co::mysql::detail {

struct PooledConnection;

// may_change_session: `sql` might change session state the tracker does not report.
// Conservative: a string literal holding '@' or "lock" makes it true too.
bool may_change_session(std::string_view sql);

// enable_session_tracking turns the server's state change tracker on for this session;
// false when the server cannot (older than MariaDB 10.2 / MySQL 5.7, or refused).
bool enable_session_tracking(MYSQL* m);

// note_statement marks c's session changed when the statement that just ran (classified
// by may_change_session as `may_change`) failed, may change it, or the tracker says it did.
// `stmt`: the prepared statement it was (its last status packet is kept there when its
// rows were fetched one by one), or nullptr.
void note_statement(PooledConnection& c, const MYSQL_STMT* stmt, bool may_change, bool failed);

}  // namespace co::mysql::detail
