// co::mysql::Statement: a prepared statement with bound parameters, from a pooled
// connection (see mysql_pool.h). The SQL text and the values travel apart (the binary
// protocol), so no value is ever quoted or escaped into SQL:
//
//   auto conn = pool.acquire();
//   co::mysql::Result r =
//       conn.prepare("SELECT id, randomNumber FROM World WHERE id=?").execute(id);
//   std::int64_t n = r[0].get<std::int64_t>(1);            // or r[0].get<int>("randomNumber")
//   std::uint64_t changed =
//       conn.prepare("UPDATE World SET randomNumber=? WHERE id=?").execute_update(n, id);
//
// - Arguments: integers and bool (bound as BIGINT, signed or unsigned), float/double
//   (DOUBLE), std::string / std::string_view / const char* (binary-safe strings, also for
//   BLOBs), nullptr / std::nullopt (NULL), and std::optional of any of them. The number of
//   arguments must match the statement's `?` (else std::invalid_argument).
// - execute returns the whole Result (rows, affected_rows, insert_id) like Connection::query;
//   typed values come back in the same form (integers and doubles as their shortest decimal
//   text), read with Row::get<T>. execute_update returns the affected rows (a result set,
//   if any, is read and dropped). Errors throw co::mysql::Error; a connection-level error
//   marks the lease's connection for discarding, as Connection::query does.
// - Cached per connection by SQL text: prepare() on a connection that prepared the same text
//   before costs no round trip. The cache holds at most Config::statement_cache_size
//   statements per connection (least recently used closed first); all are closed with their
//   connection, so MYSQL_STMT handles never pile up on the server. The session reset that
//   ends a lease (Config::reset_session, on by default) drops the server's statements, so by
//   default a statement is prepared once per lease; with reset_session = false it is
//   prepared once per connection, and with reset_only_when_changed once per connection as
//   long as the leases leave the session alone.
// - A Statement is a handle valid while the lease that made it is held (like the MYSQL*
//   from Connection::get()); it is meant for use right away, as above.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "cofcgi/adapters/mysql.h"
#include "cofcgi/runtime/export.h"

namespace co::mysql {

namespace detail {
struct PooledConnection;
struct PreparedStatement;
}  // namespace detail

// Param: one bound parameter value, made from execute()'s arguments; the text is not copied
// (it must live until execute returns, as the arguments do).
struct Param {
  enum class Kind : unsigned char { null, int64, uint64, float64, text };
  Kind kind = Kind::null;
  std::int64_t int64 = 0;
  std::uint64_t uint64 = 0;
  double float64 = 0;
  std::string_view text{};
};

namespace detail {
template <class T>
inline constexpr bool kUnsupportedParamType = false;

template <class T>
Param to_param(const T& v) {
  Param p;
  if constexpr (std::is_same_v<T, std::nullptr_t> || std::is_same_v<T, std::nullopt_t>) {
    p.kind = Param::Kind::null;
  } else if constexpr (IsOptional<T>::value) {
    if (v) return to_param(*v);
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    p.kind = Param::Kind::int64;
    p.int64 = v;
  } else if constexpr (std::is_integral_v<T>) {  // unsigned, bool
    p.kind = Param::Kind::uint64;
    p.uint64 = v;
  } else if constexpr (std::is_floating_point_v<T>) {
    p.kind = Param::Kind::float64;
    p.float64 = v;
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    p.kind = Param::Kind::text;
    p.text = std::string_view(v);
  } else {
    static_assert(kUnsupportedParamType<T>, "co::mysql::Statement::execute: unsupported type");
  }
  return p;
}
}  // namespace detail

class COFCGI_API Statement {
 public:
  template <class... Args>
  Result execute(const Args&... args) {
    const std::array<Param, sizeof...(Args)> params{detail::to_param(args)...};
    return execute_params(params.data(), params.size());
  }
  template <class... Args>
  std::uint64_t execute_update(const Args&... args) {
    return execute(args...).affected_rows;
  }
  // execute_params: the same with the parameters as an array.
  Result execute_params(const Param* params, std::size_t count);
  // param_count: the number of `?` in the statement.
  unsigned param_count() const;
  const std::string& sql() const;

 private:
  friend class Connection;
  Statement(detail::PooledConnection* conn, std::shared_ptr<detail::PreparedStatement> stmt)
      : conn_(conn), stmt_(std::move(stmt)) {}
  detail::PooledConnection* conn_;
  std::shared_ptr<detail::PreparedStatement> stmt_;
};

}  // namespace co::mysql
