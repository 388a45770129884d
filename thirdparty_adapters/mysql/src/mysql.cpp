// co::mysql helpers over libmariadb (see cofcgi/adapters/mysql.h).
#include "cofcgi/adapters/mysql.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include <cstring>
#include <mutex>

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
  // libmariadb's connection-level errors (2000-2029: cannot connect, server gone, lost
  // during a query or by a read/write timeout, out of sync, malformed packet; 2055: lost
  // with the system error; 5013-5015: network read/write) leave the connection in an
  // unknown state. The statement-level client errors (2030 and up: CR_NO_PREPARE_STMT,
  // CR_PARAMS_NOT_BOUND, CR_NO_DATA, ...) do not. From the server: the connection was killed
  // or the server is shutting down.
  if (code >= CR_MIN_ERROR && code < 2030) return true;
  switch (code) {
    case CR_SERVER_LOST_EXTENDED:
    case CR_ERR_NET_READ:
    case CR_ERR_NET_WRITE:
    case CR_ERR_NET_UNCOMPRESS:
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

void throw_error(MYSQL* mysql, const char* context) {
  const unsigned code = mysql_errno(mysql);
  std::string message = context ? std::string(context) + ": " : std::string();
  message += mysql_error(mysql);
  if (code != 0) message += " (" + std::to_string(code) + ")";
  throw Error(code, mysql_sqlstate(mysql), message);
}

void throw_error(MYSQL_STMT* stmt, const char* context) {
  const unsigned code = mysql_stmt_errno(stmt);
  std::string message = context ? std::string(context) + ": " : std::string();
  message += mysql_stmt_error(stmt);
  if (code != 0) message += " (" + std::to_string(code) + ")";
  throw Error(code, mysql_stmt_sqlstate(stmt), message);
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
