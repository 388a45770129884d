// co::mysql::Statement: binding parameters, executing, fetching typed columns into rows
// (see cofcgi/adapters/mysql_statement.h); the per-connection statement cache.
#include <errmsg.h>
#include <mysql.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <string>
#include <vector>

#include "cofcgi/adapters/mysql_statement.h"
#include "interrupted.h"
#include "pooled_connection.h"
#include "session_effects.h"
#include "statement_cache.h"

namespace co::mysql {
namespace detail {

namespace {

PreparedColumn column_for(const MYSQL_FIELD& f) {
  const bool is_unsigned = (f.flags & UNSIGNED_FLAG) != 0;
  switch (f.type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR: return {MYSQL_TYPE_LONGLONG, is_unsigned, f.length};
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE: return {MYSQL_TYPE_DOUBLE, false, f.length};
    default: return {MYSQL_TYPE_STRING, false, f.length};  // text, DECIMAL, dates, BLOB, BIT
  }
}

}  // namespace

void load_columns(PreparedStatement& ps) {
  ps.columns.clear();
  std::vector<std::string> names;
  if (MYSQL_RES* meta = mysql_stmt_result_metadata(ps.stmt)) {
    const unsigned n = mysql_num_fields(meta);
    const MYSQL_FIELD* fields = mysql_fetch_fields(meta);
    for (unsigned i = 0; i < n; ++i) {
      ps.columns.push_back(column_for(fields[i]));
      names.emplace_back(fields[i].name, fields[i].name_length);
    }
    mysql_free_result(meta);
  }
  ps.names = std::make_shared<const std::vector<std::string>>(std::move(names));
}

std::shared_ptr<PreparedStatement> StatementCache::get(MYSQL* mysql, std::string_view sql) {
  if (const auto it = map_.find(sql); it != map_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return *it->second;
  }
  MYSQL_STMT* stmt = mysql_stmt_init(mysql);
  if (stmt == nullptr) throw_error(mysql, "mysql_stmt_init");
  auto ps = std::make_shared<PreparedStatement>(stmt, std::string(sql));
  if (mysql_stmt_prepare(stmt, sql.data(), sql.size()) != 0) {
    throw_error(stmt, ("prepare '" + std::string(sql.substr(0, 80)) + "'").c_str());
  }
  ps->param_count = mysql_stmt_param_count(stmt);
  ps->may_change_session = may_change_session(sql);
  load_columns(*ps);
  if (map_.size() >= capacity_) {
    map_.erase(lru_.back()->sql);
    lru_.pop_back();
  }
  lru_.push_front(ps);
  map_.emplace(ps->sql, lru_.begin());
  return ps;
}

void StatementCache::clear() {
  map_.clear();
  lru_.clear();
}

}  // namespace detail

namespace {

using detail::PreparedColumn;
using detail::PreparedStatement;

// A string column's first buffer: longer values are fetched again at their length.
constexpr unsigned long kFirstStringBuffer = 256;

MYSQL_BIND bind_param(const Param& p) {
  MYSQL_BIND b{};
  switch (p.kind) {
    case Param::Kind::null: b.buffer_type = MYSQL_TYPE_NULL; break;
    case Param::Kind::int64:
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = const_cast<std::int64_t*>(&p.int64);
      break;
    case Param::Kind::uint64:
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = const_cast<std::uint64_t*>(&p.uint64);
      b.is_unsigned = 1;
      break;
    case Param::Kind::float64:
      b.buffer_type = MYSQL_TYPE_DOUBLE;
      b.buffer = const_cast<double*>(&p.float64);
      break;
    case Param::Kind::text:
      b.buffer_type = MYSQL_TYPE_STRING;
      b.buffer = const_cast<char*>(p.text.data());
      b.buffer_length = p.text.size();
      break;
  }
  return b;
}

// One result column's landing place for mysql_stmt_fetch.
struct Cell {
  std::int64_t int64 = 0;
  double float64 = 0;
  std::string text;
  unsigned long length = 0;
  my_bool is_null = 0;
  my_bool truncated = 0;
};

MYSQL_BIND bind_cell(const PreparedColumn& col, Cell& cell) {
  MYSQL_BIND b{};
  b.buffer_type = col.bind_type;
  b.is_unsigned = col.is_unsigned;
  b.length = &cell.length;
  b.is_null = &cell.is_null;
  b.error = &cell.truncated;
  if (col.bind_type == MYSQL_TYPE_LONGLONG) {
    b.buffer = &cell.int64;
  } else if (col.bind_type == MYSQL_TYPE_DOUBLE) {
    b.buffer = &cell.float64;
  } else {
    cell.text.resize(std::max(1ul, std::min(col.length, kFirstStringBuffer)));
    b.buffer = cell.text.data();
    b.buffer_length = cell.text.size();
  }
  return b;
}

template <class T>
std::string decimal(T v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

Row fetched_row(MYSQL_STMT* stmt, const PreparedStatement& ps, std::vector<Cell>& cells,
                std::vector<MYSQL_BIND>& binds) {
  std::vector<Row::Value> values;
  values.reserve(cells.size());
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const Cell& cell = cells[i];
    const PreparedColumn& col = ps.columns[i];
    if (cell.is_null) {
      values.emplace_back(std::nullopt);
    } else if (col.bind_type == MYSQL_TYPE_LONGLONG) {
      values.emplace_back(col.is_unsigned ? decimal(static_cast<std::uint64_t>(cell.int64))
                                          : decimal(cell.int64));
    } else if (col.bind_type == MYSQL_TYPE_DOUBLE) {
      values.emplace_back(decimal(cell.float64));
    } else if (cell.length <= cell.text.size()) {
      values.emplace_back(std::in_place, cell.text.data(), cell.length);
    } else {  // longer than the buffer: fetch this column again at its full length
      std::string whole(cell.length, '\0');
      MYSQL_BIND b = binds[i];
      b.buffer = whole.data();
      b.buffer_length = whole.size();
      if (mysql_stmt_fetch_column(stmt, &b, static_cast<unsigned>(i), 0) != 0)
        throw_error(stmt, "fetch column");
      values.emplace_back(std::move(whole));
    }
  }
  return Row(std::move(values), ps.names);
}

// fetch_rows reads the whole result set, then any further ones (a CALL's status result)
// so the connection is ready for the next command.
void fetch_rows(MYSQL_STMT* stmt, const PreparedStatement& ps, Result& r) {
  std::vector<Cell> cells(ps.columns.size());
  std::vector<MYSQL_BIND> binds(cells.size());
  for (std::size_t i = 0; i < cells.size(); ++i) binds[i] = bind_cell(ps.columns[i], cells[i]);
  if (mysql_stmt_bind_result(stmt, binds.data()) != 0) throw_error(stmt, "bind result");
  r.set_columns(ps.names);
  for (;;) {
    const int rc = mysql_stmt_fetch(stmt);
    if (rc == MYSQL_NO_DATA) break;
    if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) throw_error(stmt, "fetch");
    r.rows.push_back(fetched_row(stmt, ps, cells, binds));
  }
  mysql_stmt_free_result(stmt);
  while (mysql_stmt_more_results(stmt)) {
    if (mysql_stmt_next_result(stmt) > 0) throw_error(stmt, "next result");
    mysql_stmt_free_result(stmt);
  }
}

Result run(PreparedStatement& ps, const Param* params, std::size_t count) {
  MYSQL_STMT* stmt = ps.stmt;
  std::vector<MYSQL_BIND> binds(count);
  for (std::size_t i = 0; i < count; ++i) binds[i] = bind_param(params[i]);
  if (count != 0 && mysql_stmt_bind_param(stmt, binds.data()) != 0)
    throw_error(stmt, "bind parameters");
  if (mysql_stmt_execute(stmt) != 0) throw_error(stmt, "execute");
  // The rows are read whole here: the status of the result's last packet (with the
  // session tracker's "state changed" flag) is kept only on this path, not when rows are
  // fetched one by one. Result holds every row anyway.
  if (mysql_stmt_field_count(stmt) != 0 && mysql_stmt_store_result(stmt) != 0)
    throw_error(stmt, "store result");
  if (mysql_stmt_field_count(stmt) != ps.columns.size()) detail::load_columns(ps);
  Result r;
  if (!ps.columns.empty()) {
    fetch_rows(stmt, ps, r);
  } else {
    r.affected_rows = mysql_stmt_affected_rows(stmt);
    r.insert_id = mysql_stmt_insert_id(stmt);
  }
  r.warnings = mysql_stmt_warning_count(stmt);
  return r;
}

}  // namespace

const std::string& Statement::sql() const { return stmt_->sql; }

unsigned Statement::param_count() const { return stmt_->param_count; }

Result Statement::execute_params(const Param* params, std::size_t count) {
  PreparedStatement& ps = *stmt_;
  if (count != ps.param_count) {
    throw std::invalid_argument("co::mysql::Statement '" + ps.sql.substr(0, 80) + "' takes " +
                                std::to_string(ps.param_count) + " parameter(s), got " +
                                std::to_string(count));
  }
  detail::throw_if_interrupted("execute");
  try {
    Result r = run(ps, params, count);
    detail::note_statement(*conn_, ps.stmt, ps.may_change_session, false);
    return r;
  } catch (const Error& e) {
    detail::note_statement(*conn_, ps.stmt, ps.may_change_session, true);
    // A connection-level error leaves the connection unusable: the lease discards it.
    if (e.connection_broken()) conn_->broken = true;
    throw;
  }
}

}  // namespace co::mysql
