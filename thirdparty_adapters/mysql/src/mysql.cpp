// co::mysql helpers over libmariadb (see cofcgi/adapters/mysql.h).
#include "cofcgi/adapters/mysql.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "cofcgi/runtime/cancel.h"

namespace co::mysql {

void library_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (mysql_library_init(0, nullptr, nullptr) != 0) {
      throw Error(CR_UNKNOWN_ERROR, "HY000", "mysql_library_init failed");
    }
  });
}

namespace {
struct ThreadInit {
  ThreadInit() { mysql_thread_init(); }
  ~ThreadInit() { mysql_thread_end(); }
};
}  // namespace

void thread_init() {
  library_init();
  thread_local ThreadInit init;
  (void)init;
}

Error::Error(unsigned code, std::string sqlstate, const std::string& message)
    : std::runtime_error(message), code_(code), sqlstate_(std::move(sqlstate)) {}

bool Error::is_connection_error(unsigned code) {
  // Every error the client library raises (CR_*, 2000-2999, and MariaDB's own 5000-5999):
  // server gone, lost during a query, a read/write timeout, a hooked call that failed with
  // ETIMEDOUT or ECANCELED (the coroutine's deadline or cancellation), out of sync, ... The
  // connection's state is unknown after any of them; even the statement-level ones mean
  // the program and the protocol disagree. From the server: the connection was killed or
  // the server is shutting down.
  if (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) return true;
  if (code >= CER_MIN_ERROR && code <= CER_MAX_ERROR) return true;
  switch (code) {
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
    case ER_NET_READ_ERROR:
    case ER_NET_READ_INTERRUPTED:
    case ER_NET_ERROR_ON_WRITE:
    case ER_NET_WRITE_INTERRUPTED:
    case ER_NET_PACKET_TOO_LARGE:
    case ER_NET_PACKETS_OUT_OF_ORDER:
    case ER_NEW_ABORTING_CONNECTION: return true;
    default: return false;
  }
}

namespace {

// why_interrupted: a client error that a cancelled coroutine, or one past its deadline, got
// from a hooked call (ECANCELED/ETIMEDOUT surface as "lost connection"): say so.
std::string why_interrupted(unsigned code) {
  if (code < CR_MIN_ERROR || code > CR_MAX_ERROR) return {};
  switch (co::interruption()) {
    case ECANCELED: return " [the coroutine was cancelled]";
    case ETIMEDOUT: return " [the coroutine's deadline passed]";
    default: return {};
  }
}

[[noreturn]] void throw_with(unsigned code, const char* sqlstate, const char* error,
                             const char* context) {
  std::string message = context ? std::string(context) + ": " : std::string();
  message += error;
  if (code != 0) message += " (" + std::to_string(code) + ")";
  message += why_interrupted(code);
  throw Error(code, sqlstate, message);
}

}  // namespace

void throw_error(MYSQL* mysql, const char* context) {
  throw_with(mysql_errno(mysql), mysql_sqlstate(mysql), mysql_error(mysql), context);
}

void throw_error(MYSQL_STMT* stmt, const char* context) {
  throw_with(mysql_stmt_errno(stmt), mysql_stmt_sqlstate(stmt), mysql_stmt_error(stmt), context);
}

namespace {

Result read_result(MYSQL* mysql, MYSQL_RES* res) {
  Result r;
  r.warnings = mysql_warning_count(mysql);
  if (res == nullptr) {
    r.affected_rows = mysql_affected_rows(mysql);
    r.insert_id = mysql_insert_id(mysql);
    return r;
  }
  const unsigned n = mysql_num_fields(res);
  const MYSQL_FIELD* fields = mysql_fetch_fields(res);
  std::vector<std::string> names;
  names.reserve(n);
  for (unsigned i = 0; i < n; ++i) names.emplace_back(fields[i].name, fields[i].name_length);
  r.set_columns(std::move(names));
  r.rows.reserve(static_cast<std::size_t>(mysql_num_rows(res)));
  while (MYSQL_ROW row = mysql_fetch_row(res)) {
    const unsigned long* lengths = mysql_fetch_lengths(res);
    std::vector<Row::Value> values;
    values.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
      if (row[i] == nullptr) {
        values.emplace_back(std::nullopt);
      } else {
        values.emplace_back(std::in_place, row[i], lengths[i]);
      }
    }
    r.rows.emplace_back(std::move(values), r.shared_columns());
  }
  r.affected_rows = mysql_affected_rows(mysql);
  return r;
}

struct ResultGuard {
  MYSQL_RES* res;
  ~ResultGuard() {
    if (res) mysql_free_result(res);
  }
};

}  // namespace

Result query(MYSQL* mysql, std::string_view sql) {
  if (mysql_real_query(mysql, sql.data(), sql.size()) != 0) throw_error(mysql);
  Result last;
  for (;;) {
    ResultGuard res{mysql_store_result(mysql)};
    if (res.res == nullptr && mysql_field_count(mysql) != 0) throw_error(mysql);
    last = read_result(mysql, res.res);
    const int next = mysql_next_result(mysql);
    if (next > 0) throw_error(mysql);
    if (next < 0) break;
  }
  return last;
}

std::uint64_t execute(MYSQL* mysql, std::string_view sql) {
  return query(mysql, sql).affected_rows;
}

std::string escape(MYSQL* mysql, std::string_view s) {
  std::string out(s.size() * 2 + 1, '\0');
  const unsigned long n = mysql_real_escape_string(mysql, out.data(), s.data(), s.size());
  if (n == static_cast<unsigned long>(-1)) throw_error(mysql, "mysql_real_escape_string");
  out.resize(n);
  return out;
}

}  // namespace co::mysql
