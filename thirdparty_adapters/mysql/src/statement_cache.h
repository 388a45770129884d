// detail::PreparedStatement (one MYSQL_STMT and what execute needs to know about it) and
// detail::StatementCache (a connection's prepared statements by SQL text, least recently
// used closed first).
#pragma once

#include <mysql.h>

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace co::mysql::detail {

struct PreparedColumn {
  enum_field_types bind_type;  // MYSQL_TYPE_LONGLONG, _DOUBLE or _STRING
  bool is_unsigned;
  unsigned long length;  // the column's display length, for the first string buffer
};

struct PreparedStatement {
  PreparedStatement(MYSQL_STMT* s, std::string text) : stmt(s), sql(std::move(text)) {}
  ~PreparedStatement() { mysql_stmt_close(stmt); }
  PreparedStatement(const PreparedStatement&) = delete;
  PreparedStatement& operator=(const PreparedStatement&) = delete;

  MYSQL_STMT* stmt;
  std::string sql;
  unsigned param_count = 0;
  bool may_change_session = true;       // session_effects.h, worked out once at prepare
  std::vector<PreparedColumn> columns;  // empty: no result set
  std::shared_ptr<const std::vector<std::string>> names;
};

// load_columns reads the statement's result metadata into `ps` (after prepare, and again
// when an execute reports a different column count: the table changed).
void load_columns(PreparedStatement& ps);

class StatementCache {
 public:
  explicit StatementCache(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}
  // get returns the statement prepared for `sql` on `mysql`, preparing it when it is not
  // cached. Throws co::mysql::Error when the server refuses it.
  std::shared_ptr<PreparedStatement> get(MYSQL* mysql, std::string_view sql);
  // clear closes every cached statement (a Statement handle still held keeps its own).
  void clear();
  std::size_t size() const { return map_.size(); }

 private:
  using List = std::list<std::shared_ptr<PreparedStatement>>;  // most recently used first
  std::size_t capacity_;
  List lru_;
  std::unordered_map<std::string_view, List::iterator> map_;  // keys view PreparedStatement::sql
};

}  // namespace co::mysql::detail
