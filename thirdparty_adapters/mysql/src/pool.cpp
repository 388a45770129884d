// co::mysql::Pool and Connection: the public facade over the per-thread pools (see
// cofcgi/adapters/mysql_pool.h, thread_pool.h, pool_shared.h).
#include <errmsg.h>
#include <mysql.h>

#include <stdexcept>
#include <utility>

#include "cofcgi/adapters/mysql_pool.h"
#include "interrupted.h"
#include "pool_shared.h"
#include "pooled_connection.h"
#include "session_effects.h"
#include "thread_pool.h"

namespace co::mysql {

// ---- Connection ------------------------------------------------------------------------

Connection::Connection(std::shared_ptr<detail::ThreadPool> pool, detail::PooledConnection* conn)
    : pool_(std::move(pool)), conn_(conn) {}

Connection::Connection(Connection&& other) noexcept
    : pool_(std::move(other.pool_)), conn_(std::exchange(other.conn_, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    conn_ = std::exchange(other.conn_, nullptr);
  }
  return *this;
}

Connection::~Connection() { release(); }

MYSQL* Connection::get() const {
  if (!conn_) return nullptr;
  conn_->raw_access = true;
  conn_->session_changed = true;  // what is done with the handle is not seen
  return conn_->mysql;
}

namespace {
[[noreturn]] void no_connection() {
  throw std::logic_error("co::mysql::Connection: empty (moved from or released)");
}
}  // namespace

Result Connection::query(std::string_view sql) {
  if (!conn_) no_connection();
  detail::throw_if_interrupted("query");
  // Only a tracked session (reset_only_when_changed) needs the statement looked at.
  const bool may_change = conn_->session_tracked && detail::may_change_session(sql);
  try {
    Result r = co::mysql::query(conn_->mysql, sql);
    detail::note_statement(*conn_, nullptr, may_change, false);
    return r;
  } catch (const Error& e) {
    detail::note_statement(*conn_, nullptr, may_change, true);
    if (e.connection_broken()) conn_->broken = true;
    throw;
  }
}

std::uint64_t Connection::execute(std::string_view sql) { return query(sql).affected_rows; }

std::string Connection::escape(std::string_view s) {
  if (!conn_) no_connection();
  return co::mysql::escape(conn_->mysql, s);
}

Statement Connection::prepare(std::string_view sql) {
  if (!conn_) no_connection();
  detail::throw_if_interrupted("prepare");
  try {
    return Statement(conn_, conn_->statements.get(conn_->mysql, sql));
  } catch (const Error& e) {
    if (e.connection_broken()) conn_->broken = true;
    throw;
  }
}

void Connection::discard() {
  if (conn_) conn_->broken = true;
}

bool Connection::discarded() const { return conn_ && conn_->broken; }

void Connection::release() noexcept {
  if (!conn_) return;
  detail::PooledConnection* c = std::exchange(conn_, nullptr);
  std::shared_ptr<detail::ThreadPool> pool = std::move(pool_);
  pool->release(c);
}

// ---- Pool ------------------------------------------------------------------------------

Pool::Pool(Config config) {
  library_init();
  if (config.max_connections == 0)
    throw std::invalid_argument("co::mysql::Pool: max_connections must be > 0");
  shared_ = std::make_shared<detail::Shared>(std::move(config));
}

Pool::~Pool() {
  if (!shared_) return;
  shared_->closed = true;
  const std::shared_ptr<detail::ThreadPool> here = detail::thread_pool_for(shared_, false);
  if (here) here->close_all_idle();
  shared_->shutdown(here.get());
}

Connection Pool::acquire() { return acquire(shared_->config.acquire_timeout); }

Connection Pool::acquire(std::chrono::milliseconds timeout) {
  std::shared_ptr<detail::ThreadPool> pool = detail::thread_pool_for(shared_, true);
  detail::PooledConnection* c = pool->acquire(timeout);
  return Connection(std::move(pool), c);
}

Pool::Stats Pool::stats() const { return shared_->stats(); }

const Config& Pool::config() const { return shared_->config; }

void Pool::close_idle() {
  const std::shared_ptr<detail::ThreadPool> here = detail::thread_pool_for(shared_, false);
  if (here) here->close_all_idle();
  shared_->shutdown(here.get());
}

}  // namespace co::mysql
