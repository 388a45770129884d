// MariaDB/MySQL through libmariadb inside coroutines: process/thread initialisation, the
// error type and small query helpers on a MYSQL*. The pool is in mysql_pool.h.
//
// libmariadb needs no special API under cofcgi: its blocking socket calls (connect, poll,
// recv, send) are hooked, so a coroutine blocked in mysql_real_connect / mysql_query /
// mysql_stmt_execute parks and the thread runs the others. Rules:
//  - mysql_library_init once per process before any thread or coroutine uses libmariadb:
//    co::mysql::library_init() (std::call_once; co::mysql::Pool calls it too).
//  - mysql_thread_init on each thread that uses it: co::mysql::thread_init() (idempotent;
//    mysql_thread_end runs at thread exit).
//  - A MYSQL* is used by one coroutine at a time and stays on the thread that opened it.
//  - Timeouts are libmariadb's own (MYSQL_OPT_CONNECT_TIMEOUT, _READ_TIMEOUT,
//    _WRITE_TIMEOUT, whole seconds); they park as well. libmariadb's stack use at a blocking
//    call is ~2-3 KB: the default 128 KiB coroutine stack is plenty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "cofcgi/runtime/export.h"

// libmariadb's handle types, declared so this header does not need <mysql.h>.
typedef struct st_mysql MYSQL;
typedef struct st_mysql_stmt MYSQL_STMT;

namespace co::mysql {

// library_init calls mysql_library_init once per process (thread-safe). Call it from main()
// before starting threads; every other entry point here calls it as well.
COFCGI_API void library_init();
// thread_init calls mysql_thread_init once on the calling thread and arranges
// mysql_thread_end at thread exit.
COFCGI_API void thread_init();

// Error: a failed libmariadb call, with the server's (or the client library's) error number,
// SQLSTATE and message.
class COFCGI_API Error : public std::runtime_error {
 public:
  Error(unsigned code, std::string sqlstate, const std::string& message);
  // code: the server's error number (ER_*, e.g. 1146 no such table), libmariadb's (CR_*,
  // 2000-2999, e.g. 2013 lost connection) or 0 for the pool's own errors.
  unsigned code() const { return code_; }
  const std::string& sqlstate() const { return sqlstate_; }
  // connection_broken: the connection cannot be trusted any more: any error of the client
  // library (CR_*, 2000-2999 and 5000-5999: cannot connect, server gone, lost during a query,
  // a read/write timeout, a hooked call that failed with ETIMEDOUT/ECANCELED, out of sync,
  // ...), or the server killed the connection or is shutting down. The pool discards such a
  // connection instead of reusing it. Server errors about the statement (1062 duplicate
  // key, 1317 query killed, ...) leave it usable.
  bool connection_broken() const { return is_connection_error(code_); }
  static bool is_connection_error(unsigned code);

 private:
  unsigned code_;
  std::string sqlstate_;
};

// AcquireTimeout: Pool::acquire found no free connection before its deadline
// (code() == 0, sqlstate() == "HYT00").
class COFCGI_API AcquireTimeout : public Error {
 public:
  explicit AcquireTimeout(const std::string& message) : Error(0, "HYT00", message) {}
};

// One row: a value per column, std::nullopt for SQL NULL. Values are kept as the text
// protocol's strings (binary-safe; a prepared statement's typed values are stored in the same
// form), and get<T> converts:
//   row.get<std::int64_t>(0), row.get<std::string>("name"), row.get<double>(2),
//   row.get<std::optional<std::int64_t>>(3)   // std::nullopt for NULL
// T: std::string, std::string_view (into the row), bool, any integer type (range-checked),
// float/double, or std::optional of one of them. NULL for a non-optional T throws
// std::out_of_range; text that is not a T throws std::invalid_argument.
class COFCGI_API Row {
 public:
  using Value = std::optional<std::string>;
  Row() = default;
  Row(std::vector<Value> values, std::shared_ptr<const std::vector<std::string>> columns)
      : values_(std::move(values)), columns_(std::move(columns)) {}

  std::size_t size() const { return values_.size(); }
  const Value& operator[](std::size_t col) const { return values_[col]; }
  const Value& at(std::size_t col) const { return values_.at(col); }
  auto begin() const { return values_.begin(); }
  auto end() const { return values_.end(); }

  template <class T>
  T get(std::size_t col) const;
  template <class T>
  T get(std::string_view column) const {
    return get<T>(column_index(column));
  }
  // column_index finds a column by name (std::out_of_range when absent).
  std::size_t column_index(std::string_view name) const;

 private:
  std::vector<Value> values_;
  std::shared_ptr<const std::vector<std::string>> columns_;  // shared by a Result's rows
};

struct COFCGI_API Result {
  std::vector<Row> rows;
  std::uint64_t affected_rows = 0;  // for INSERT/UPDATE/DELETE
  std::uint64_t insert_id = 0;
  unsigned warnings = 0;

  // The column names (empty for statements without a result set).
  const std::vector<std::string>& columns() const;
  void set_columns(std::vector<std::string> names);
  void set_columns(std::shared_ptr<const std::vector<std::string>> names) {
    columns_ = std::move(names);
  }
  const std::shared_ptr<const std::vector<std::string>>& shared_columns() const { return columns_; }

  std::size_t size() const { return rows.size(); }
  bool empty() const { return rows.empty(); }
  const Row& operator[](std::size_t i) const { return rows[i]; }
  auto begin() const { return rows.begin(); }
  auto end() const { return rows.end(); }
  // value is rows.at(row).at(col), throwing std::out_of_range for NULL too.
  const std::string& value(std::size_t row, std::size_t col) const;
  // column_index finds a column by name (std::out_of_range when absent).
  std::size_t column_index(std::string_view name) const;

 private:
  std::shared_ptr<const std::vector<std::string>> columns_;
};

namespace detail {
// Text to number, the whole text or std::invalid_argument (std::out_of_range when it does
// not fit).
COFCGI_API std::int64_t parse_int64(std::string_view text);
COFCGI_API std::uint64_t parse_uint64(std::string_view text);
COFCGI_API double parse_double(std::string_view text);
[[noreturn]] COFCGI_API void throw_null_value(std::size_t col);
[[noreturn]] COFCGI_API void throw_out_of_range(std::string_view text);

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
inline constexpr bool kUnsupportedValueType = false;

template <class T>
T convert_value(const std::string& text) {
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
    return T(text);
  } else if constexpr (std::is_same_v<T, bool>) {
    return parse_int64(text) != 0;
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    const std::int64_t v = parse_int64(text);
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
      throw_out_of_range(text);
    return static_cast<T>(v);
  } else if constexpr (std::is_integral_v<T>) {
    const std::uint64_t v = parse_uint64(text);
    if (v > std::numeric_limits<T>::max()) throw_out_of_range(text);
    return static_cast<T>(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(parse_double(text));
  } else {
    static_assert(kUnsupportedValueType<T>, "co::mysql::Row::get<T>: unsupported T");
  }
}
}  // namespace detail

template <class T>
T Row::get(std::size_t col) const {
  const Value& v = values_.at(col);
  if constexpr (detail::IsOptional<T>::value) {
    if (!v) return std::nullopt;
    return detail::convert_value<typename T::value_type>(*v);
  } else {
    if (!v) detail::throw_null_value(col);
    return detail::convert_value<T>(*v);
  }
}

// query runs one statement and returns its whole result (mysql_store_result); for several
// result sets (a CALL or multi-statement) the last one is returned and all are consumed.
// Throws Error.
COFCGI_API Result query(MYSQL* mysql, std::string_view sql);
// execute runs a statement and returns the affected rows (any result set is discarded).
COFCGI_API std::uint64_t execute(MYSQL* mysql, std::string_view sql);
// escape quotes `s` for a string literal in the connection's character set (no quotes added).
COFCGI_API std::string escape(MYSQL* mysql, std::string_view s);
// throw_error throws the connection's (or statement's) last error as co::mysql::Error,
// prefixed with `context` when given.
[[noreturn]] COFCGI_API void throw_error(MYSQL* mysql, const char* context = nullptr);
[[noreturn]] COFCGI_API void throw_error(MYSQL_STMT* stmt, const char* context = nullptr);

}  // namespace co::mysql
