// See techempower_db.h. Written on co::mysql::Statement (cofcgi/adapters/mysql_statement.h):
// statements are prepared once per connection and cached by the connection (the app sets
// Config::reset_only_when_changed, see techempower.cpp).
#include "techempower_db.h"

#include <array>
#include <bit>
#include <stdexcept>
#include <string_view>

namespace techempower {

namespace {

constexpr std::string_view kSelectWorld = "SELECT id, randomNumber FROM World WHERE id=?";
constexpr std::string_view kSelectFortunes = "SELECT id, message FROM Fortune";

// Batches are padded up to a power of two (the padding repeats the last world, which the
// statement's CASE ignores), so a connection holds at most log2(kMaxBatch) + 1 update
// statements, whatever sizes the requests ask for.
constexpr std::size_t kUpdateWidths = std::bit_width(kMaxBatch);

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

co::mysql::Param int_param(std::int32_t value) {
  co::mysql::Param param;
  param.kind = co::mysql::Param::Kind::int64;
  param.int64 = value;
  return param;
}

}  // namespace

World find_world(co::mysql::Connection& connection, std::int32_t id) {
  const co::mysql::Result result = connection.prepare(kSelectWorld).execute(id);
  if (result.empty()) throw co::mysql::Error(0, "02000", "no world with id " + std::to_string(id));
  return {result[0].get<std::int32_t>(0), result[0].get<std::int32_t>(1)};
}

std::vector<Fortune> all_fortunes(co::mysql::Connection& connection) {
  const co::mysql::Result result = connection.prepare(kSelectFortunes).execute();
  std::vector<Fortune> fortunes;
  fortunes.reserve(result.size() + 1);
  for (const auto& row : result)
    fortunes.push_back({row.get<std::int32_t>(0), row.get<std::string>(1)});
  return fortunes;
}

void update_worlds(co::mysql::Connection& connection, std::span<const World> worlds) {
  if (worlds.empty()) return;
  if (worlds.size() > kMaxBatch) throw std::invalid_argument("update_worlds: batch too large");
  const std::size_t width = std::bit_ceil(worlds.size());
  // Parameters: (id, number) per CASE arm, then the ids of the IN list.
  std::vector<co::mysql::Param> params(3 * width);
  for (std::size_t i = 0; i < width; ++i) {
    const World& world = worlds[std::min(i, worlds.size() - 1)];
    params[2 * i] = int_param(world.id);
    params[2 * i + 1] = int_param(world.random_number);
    params[2 * width + i] = int_param(world.id);
  }
  connection.prepare(update_sql(std::bit_width(width) - 1))
      .execute_params(params.data(), params.size());
}

}  // namespace techempower
