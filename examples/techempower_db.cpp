// See techempower_db.h. Written on libmariadb's prepared-statement API (mysql_stmt_*) on
// the lent connection's MYSQL*.
#include "techempower_db.h"

#include <mysql.h>

#include <array>
#include <bit>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace techempower {

namespace {

constexpr std::string_view kSelectWorld = "SELECT id, randomNumber FROM World WHERE id=?";
constexpr std::string_view kSelectFortunes = "SELECT id, message FROM Fortune";
// The longest message TFB's schema allows: varchar(2048), up to 4 bytes a character.
constexpr unsigned long kMaxMessageBytes = 2048 * 4;

struct StatementCloser {
  void operator()(MYSQL_STMT* stmt) const { mysql_stmt_close(stmt); }
};
using StatementPtr = std::unique_ptr<MYSQL_STMT, StatementCloser>;

// Batches are padded up to a power of two (the padding repeats the last world, which the
// statement's CASE ignores), so a connection holds at most log2(kMaxBatch) + 1 update
// statements, whatever sizes the requests ask for.
constexpr std::size_t kUpdateWidths = std::bit_width(kMaxBatch);

// The statements prepared on one connection.
struct PreparedSet {
  StatementPtr select_world;
  StatementPtr select_fortunes;
  std::array<StatementPtr, kUpdateWidths> update;  // update[k]: 2^k worlds
};

// prepared_for is the set of statements of a connection, by its MYSQL*. Per thread: a
// connection never leaves the thread (and pool) that opened it.
PreparedSet& prepared_for(MYSQL* mysql) {
  thread_local std::unordered_map<MYSQL*, PreparedSet> sets;
  return sets[mysql];
}

// statement returns the prepared statement in `slot`, preparing it first when there is none
// or when it no longer belongs to `mysql`: libmariadb detaches a connection's statements
// (stmt->mysql = NULL) when it is closed or reset, and a new connection may get the address
// of a closed one.
MYSQL_STMT* statement(StatementPtr& slot, MYSQL* mysql, std::string_view sql) {
  if (slot && slot->mysql != mysql) slot.reset();
  if (slot) return slot.get();
  StatementPtr stmt(mysql_stmt_init(mysql));
  if (!stmt) co::mysql::throw_error(mysql, "mysql_stmt_init");
  if (mysql_stmt_prepare(stmt.get(), sql.data(), sql.size()) != 0)
    co::mysql::throw_error(stmt.get(), "mysql_stmt_prepare");
  slot = std::move(stmt);
  return slot.get();
}

MYSQL_BIND int_bind(std::int32_t* value) {
  MYSQL_BIND bind{};
  bind.buffer_type = MYSQL_TYPE_LONG;
  bind.buffer = value;
  return bind;
}

void execute(MYSQL_STMT* stmt, MYSQL_BIND* params) {
  if (params != nullptr && mysql_stmt_bind_param(stmt, params) != 0)
    co::mysql::throw_error(stmt, "mysql_stmt_bind_param");
  if (mysql_stmt_execute(stmt) != 0) co::mysql::throw_error(stmt, "mysql_stmt_execute");
}

// fetch reads the next row into the bound buffers; false at the end. A truncated column
// is an error here: every buffer is as large as the schema allows.
bool fetch(MYSQL_STMT* stmt) {
  const int rc = mysql_stmt_fetch(stmt);
  if (rc == 0) return true;
  if (rc == MYSQL_NO_DATA) return false;
  mysql_stmt_free_result(stmt);
  co::mysql::throw_error(stmt,
                         rc == MYSQL_DATA_TRUNCATED ? "truncated column" : "mysql_stmt_fetch");
}

// on_connection runs `work` and marks the connection for discarding when it fails with a
// connection error (the raw API does not tell the pool).
template <typename Work>
auto on_connection(co::mysql::Connection& connection, Work work) {
  try {
    return work(connection.get());
  } catch (const co::mysql::Error& e) {
    if (e.connection_broken()) connection.discard();
    throw;
  }
}

// update_sql is the UPDATE of 2^k worlds: UPDATE World SET randomNumber = CASE id WHEN ?
// THEN ? ... END WHERE id IN (?, ...). Built once per process.
const std::string& update_sql(std::size_t k) {
  static const std::array<std::string, kUpdateWidths> sqls = [] {
    std::array<std::string, kUpdateWidths> all;
    for (std::size_t j = 0; j < kUpdateWidths; ++j) {
      const std::size_t width = std::size_t{1} << j;
      std::string& sql = all[j];
      sql = "UPDATE World SET randomNumber = CASE id";
      for (std::size_t i = 0; i < width; ++i) sql += " WHEN ? THEN ?";
      sql += " END WHERE id IN (?";
      for (std::size_t i = 1; i < width; ++i) sql += ",?";
      sql += ")";
    }
    return all;
  }();
  return sqls[k];
}

}  // namespace

World find_world(co::mysql::Connection& connection, std::int32_t id) {
  return on_connection(connection, [&](MYSQL* mysql) {
    MYSQL_STMT* stmt = statement(prepared_for(mysql).select_world, mysql, kSelectWorld);
    MYSQL_BIND param = int_bind(&id);
    execute(stmt, &param);
    World world;
    std::array<MYSQL_BIND, 2> out{int_bind(&world.id), int_bind(&world.random_number)};
    if (mysql_stmt_bind_result(stmt, out.data()) != 0)
      co::mysql::throw_error(stmt, "mysql_stmt_bind_result");
    const bool found = fetch(stmt);
    while (fetch(stmt)) {
    }
    if (!found) throw co::mysql::Error(0, "02000", "no world with id " + std::to_string(id));
    return world;
  });
}

std::vector<Fortune> all_fortunes(co::mysql::Connection& connection) {
  return on_connection(connection, [&](MYSQL* mysql) {
    MYSQL_STMT* stmt = statement(prepared_for(mysql).select_fortunes, mysql, kSelectFortunes);
    execute(stmt, nullptr);
    std::int32_t id = 0;
    std::string message(kMaxMessageBytes, '\0');
    unsigned long length = 0;
    std::array<MYSQL_BIND, 2> out{int_bind(&id), MYSQL_BIND{}};
    out[1].buffer_type = MYSQL_TYPE_STRING;
    out[1].buffer = message.data();
    out[1].buffer_length = kMaxMessageBytes;
    out[1].length = &length;
    if (mysql_stmt_bind_result(stmt, out.data()) != 0)
      co::mysql::throw_error(stmt, "mysql_stmt_bind_result");
    std::vector<Fortune> fortunes;
    while (fetch(stmt)) fortunes.push_back({id, message.substr(0, length)});
    return fortunes;
  });
}

void update_worlds(co::mysql::Connection& connection, std::span<const World> worlds) {
  if (worlds.empty()) return;
  if (worlds.size() > kMaxBatch) throw std::invalid_argument("update_worlds: batch too large");
  on_connection(connection, [&](MYSQL* mysql) {
    const std::size_t width = std::bit_ceil(worlds.size());
    const std::size_t k = std::bit_width(width) - 1;
    MYSQL_STMT* stmt = statement(prepared_for(mysql).update[k], mysql, update_sql(k));
    // Parameters: (id, number) per CASE arm, then the ids of the IN list; the binds point
    // into `worlds` (the padding at its last element), which outlives the execution;
    // libmariadb only reads parameter buffers, MYSQL_BIND just has no const.
    std::vector<MYSQL_BIND> params(3 * width);
    for (std::size_t i = 0; i < width; ++i) {
      auto& world = const_cast<World&>(worlds[std::min(i, worlds.size() - 1)]);
      params[2 * i] = int_bind(&world.id);
      params[2 * i + 1] = int_bind(&world.random_number);
      params[2 * width + i] = int_bind(&world.id);
    }
    execute(stmt, params.data());
    return 0;
  });
}

}  // namespace techempower
