// The database side of examples/techempower: TechEmpower's `world` and `fortune` tables
// (examples/techempower_schema.sql) read and written through prepared statements on a
// connection lent by a co::mysql::Pool (co::mysql::Statement: the values are bound
// parameters, no SQL is built from request data). Every call is one statement, one round
// trip; statements are prepared once per connection when the pool's Config has
// reset_only_when_changed (or reset_session = false; each reset would drop them).
//
// Errors are co::mysql::Error; a connection error also marks the lent connection for
// discarding, so the pool opens a fresh one for the next request (recovery after the
// database went away needs no restart).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/adapters/mysql_statement.h"

namespace techempower {

struct World {
  std::int32_t id = 0;
  std::int32_t random_number = 0;
};

struct Fortune {
  std::int32_t id = 0;
  std::string message;
};

// find_world reads one row of `world` (SELECT id, randomNumber FROM World WHERE id=?).
// Throws co::mysql::Error, also when there is no such row.
World find_world(co::mysql::Connection& connection, std::int32_t id);

// all_fortunes reads every row of `fortune`, in the server's order.
std::vector<Fortune> all_fortunes(co::mysql::Connection& connection);

// update_worlds writes each world's random_number in one UPDATE statement (TFB allows
// batches). An id given twice must carry the same number both times: the statement keeps
// the first. At most kMaxBatch worlds.
inline constexpr std::size_t kMaxBatch = 512;
void update_worlds(co::mysql::Connection& connection, std::span<const World> worlds);

}  // namespace techempower
