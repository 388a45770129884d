#include "session_effects.h"

#include <cctype>
#include <string>

#include "pooled_connection.h"

namespace co::mysql::detail {
namespace {

// The statements whose own effects end with them (outside a transaction, which the pool
// checks separately).
constexpr std::string_view kPlainStatements[] = {"select", "insert",  "update",
                                                 "delete", "replace", "with"};

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// skip_space_and_comments returns where the first token of sql begins, or npos when an
// executable comment (/*! ... */, run by the server) comes first.
std::size_t skip_space_and_comments(std::string_view sql) {
  std::size_t i = 0;
  while (i < sql.size()) {
    if (std::isspace(static_cast<unsigned char>(sql[i]))) {
      ++i;
    } else if (sql.substr(i, 3) == "/*!" || sql.substr(i, 3) == "/*M") {
      return std::string_view::npos;
    } else if (sql.substr(i, 2) == "/*") {
      const std::size_t end = sql.find("*/", i + 2);
      if (end == std::string_view::npos) return std::string_view::npos;
      i = end + 2;
    } else if (sql[i] == '#' || sql.substr(i, 3) == "-- ") {
      const std::size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) return std::string_view::npos;
      i = end + 1;
    } else {
      break;
    }
  }
  return i;
}

bool starts_plain(std::string_view sql) {
  const std::size_t start = skip_space_and_comments(sql);
  if (start == std::string_view::npos) return false;
  std::string word;
  for (std::size_t i = start; i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]));
       ++i)
    word += lower(sql[i]);
  for (std::string_view plain : kPlainStatements)
    if (word == plain) return true;
  return false;
}

bool contains_lock(std::string_view sql) {
  for (std::size_t i = 0; i + 4 <= sql.size(); ++i) {
    if (lower(sql[i]) == 'l' && lower(sql[i + 1]) == 'o' && lower(sql[i + 2]) == 'c' &&
        lower(sql[i + 3]) == 'k')
      return true;
  }
  return false;
}

}  // namespace

bool may_change_session(std::string_view sql) {
  if (!starts_plain(sql)) return true;
  if (sql.find_first_of("@;") != std::string_view::npos) return true;
  if (sql.find(":=") != std::string_view::npos) return true;
  return contains_lock(sql);
}

bool enable_session_tracking(MYSQL* m) {
  unsigned long capabilities = 0;
  mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_CAPABILITIES, &capabilities);
  if ((capabilities & CLIENT_SESSION_TRACKING) == 0) return false;
  static constexpr std::string_view kOn = "SET SESSION session_track_state_change=ON";
  return mysql_real_query(m, kOn.data(), kOn.size()) == 0;
}

void note_statement(PooledConnection& c, const MYSQL_STMT* stmt, bool may_change, bool failed) {
  if (!c.session_tracked) return;  // every lease is reset anyway
  unsigned status = 0;
  mariadb_get_infov(c.mysql, MARIADB_CONNECTION_SERVER_STATUS, &status);
  if (stmt != nullptr) status |= stmt->upsert_status.server_status;
  if (may_change || failed || (status & SERVER_SESSION_STATE_CHANGED) != 0)
    c.session_changed = true;
}

}  // namespace co::mysql::detail
