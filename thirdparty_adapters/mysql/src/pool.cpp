// co::mysql::Pool (see cofcgi/adapters/mysql_pool.h).
#include <errmsg.h>
#include <mysql.h>
#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/wait_queue.h"
#include "pooled_connection.h"

namespace co::mysql {
namespace detail {

// A coroutine parked in acquire(). On the heap, not on the coroutine's stack (a parked
// coroutine's stack may be copied away in shared-stack mode).
struct Waiter {
  bool granted = false;  // a slot was handed to it
  WaitQueue queue;
};

struct PoolState {
  explicit PoolState(Config c) : config(std::move(c)), free_slots(config.max_connections) {}
  ~PoolState() {
    for (PooledConnection* c : idle) close(c);
  }

  void close(PooledConnection* c) {
    delete c;
    --open;
  }

  // A slot is the right to hold one connection (lent or being opened). Slots go to the
  // parked coroutines first, oldest first, handed over directly: a coroutine that returns a
  // connection and asks again at once cannot overtake one that waits (no barging).
  bool try_take_slot() {
    if (!waiters.empty() || free_slots == 0) return false;
    --free_slots;
    return true;
  }
  void give_slot() {
    if (!waiters.empty()) {
      std::shared_ptr<Waiter> w = std::move(waiters.front());
      waiters.pop_front();
      w->granted = true;
      w->queue.notify_one();
    } else {
      ++free_slots;
    }
  }

  Config config;
  std::thread::id owner = std::this_thread::get_id();
  bool closed = false;  // the Pool is gone: returned connections are closed
  std::size_t free_slots;
  std::deque<std::shared_ptr<Waiter>> waiters;  // FIFO
  std::vector<PooledConnection*> idle;          // most recently returned last (reused first)
  std::size_t open = 0;
  std::size_t in_use = 0;
  Pool::Stats counters;
};

}  // namespace detail

namespace {

using detail::PooledConnection;
using detail::PoolState;
using detail::Waiter;

void check_thread(const PoolState& s) {
  if (s.owner != std::this_thread::get_id()) {
    throw std::logic_error(
        "co::mysql::Pool used from a thread other than the one that created it: create one "
        "Pool per thread (its waiting and its MYSQL handles belong to that thread's coroutines)");
  }
}

std::string endpoint(const Config& c) {
  if (!c.unix_socket.empty()) return "unix:" + c.unix_socket;
  return c.host + ":" + std::to_string(c.port);
}

MYSQL* open_connection(const Config& c) {
  MYSQL* m = mysql_init(nullptr);
  if (m == nullptr) throw Error(CR_OUT_OF_MEMORY, "HY001", "co::mysql::Pool: mysql_init failed");
  const unsigned connect_timeout = static_cast<unsigned>(c.connect_timeout.count());
  const unsigned read_timeout = static_cast<unsigned>(c.read_timeout.count());
  const unsigned write_timeout = static_cast<unsigned>(c.write_timeout.count());
  if (connect_timeout) mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  if (read_timeout) mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
  if (write_timeout) mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout);
  if (!c.charset.empty()) mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, c.charset.c_str());
  if (!c.init_command.empty()) mysql_optionsv(m, MYSQL_INIT_COMMAND, c.init_command.c_str());
  const bool unix = !c.unix_socket.empty();
  const unsigned protocol = unix ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
  mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &protocol);
  const char* db = c.database.empty() ? nullptr : c.database.c_str();
  if (!mysql_real_connect(m, unix ? "localhost" : c.host.c_str(), c.user.c_str(),
                          c.password.c_str(), db, unix ? 0 : c.port,
                          unix ? c.unix_socket.c_str() : nullptr, c.client_flags)) {
    const unsigned code = mysql_errno(m);
    const std::string state = mysql_sqlstate(m);
    const std::string message = "co::mysql::Pool: connect to " + endpoint(c) + ": " +
                                mysql_error(m) + " (" + std::to_string(code) + ")";
    mysql_close(m);
    throw Error(code, state, message);
  }
  return m;
}

// healthy: the cheap check (an idle connection's socket has nothing to read: readable means
// EOF, reset, or an error packet such as "connection killed"), then mysql_ping after a long
// idle time.
bool healthy(const PoolState& s, PooledConnection* c) {
  const my_socket fd = mysql_get_socket(c->mysql);
  if (fd < 0) return false;
  pollfd p{static_cast<int>(fd), POLLIN | POLLRDHUP, 0};
  const int r = ::poll(&p, 1, 0);
  if (r != 0) return false;
  const auto idle_ns = now_ns() - c->idle_since;
  if (idle_ns >=
      std::chrono::duration_cast<std::chrono::nanoseconds>(s.config.ping_after_idle).count()) {
    if (mysql_ping(c->mysql) != 0) return false;
  }
  return true;
}

unsigned server_status(MYSQL* m) {
  unsigned status = 0;
  mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_STATUS, &status);
  return status;
}

// drain_results reads and frees the result sets a lease left unread (the rest of a CALL or
// of a multi-statement query): the next command would fail with "Commands out of sync".
bool drain_results(MYSQL* m) {
  while (mysql_more_results(m)) {
    if (mysql_next_result(m) > 0) return false;
    if (MYSQL_RES* res = mysql_store_result(m)) mysql_free_result(res);
    if (mysql_errno(m) != 0) return false;
  }
  return true;
}

// reset_session gives the next lease a fresh session (COM_RESET_CONNECTION: user variables,
// autocommit and other session variables, temporary tables, named locks, an open
// transaction, prepared statements all go) and applies init_command again, since the reset
// undoes it. The character set chosen at connect survives the reset.
bool reset_session(const Config& config, MYSQL* m) {
  if (mysql_reset_connection(m) != 0) return false;
  if (config.init_command.empty()) return true;
  if (mysql_real_query(m, config.init_command.data(), config.init_command.size()) != 0)
    return false;
  return drain_results(m);
}

// reusable decides, when a connection comes back, whether it can be lent again: not
// marked broken, still connected, no connection error last, every result set read (drained
// here), and the session reset (Config::reset_session) or at least no transaction left open
// (rolled back here). Only libmariadb's public API: the MYSQL struct's fields are private.
bool reusable(const Config& config, PooledConnection* c) {
  MYSQL* m = c->mysql;
  if (c->broken || m == nullptr || mysql_get_socket(m) < 0) return false;
  if (Error::is_connection_error(mysql_errno(m))) return false;
  if (!drain_results(m)) return false;
  if (config.reset_session) {
    const bool ok = reset_session(config, m);
    c->statements.clear();  // the reset dropped them on the server
    return ok;
  }
  if (server_status(m) & SERVER_STATUS_IN_TRANS) return mysql_rollback(m) == 0;
  // A query sent with the raw API whose result was never fetched: the libmariadb state that
  // says so is private; a ping fails "out of sync" then (the reset above skips the result).
  if (c->raw_access) return mysql_ping(m) == 0;
  return true;
}

}  // namespace

// ---- Connection ------------------------------------------------------------------------

Connection::Connection(std::shared_ptr<detail::PoolState> state, detail::PooledConnection* conn)
    : state_(std::move(state)), conn_(conn) {}

Connection::Connection(Connection&& other) noexcept
    : state_(std::move(other.state_)), conn_(std::exchange(other.conn_, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
    conn_ = std::exchange(other.conn_, nullptr);
  }
  return *this;
}

Connection::~Connection() { release(); }

MYSQL* Connection::get() const {
  if (!conn_) return nullptr;
  conn_->raw_access = true;
  return conn_->mysql;
}

namespace {
[[noreturn]] void no_connection() {
  throw std::logic_error("co::mysql::Connection: empty (moved from or released)");
}
}  // namespace

Result Connection::query(std::string_view sql) {
  if (!conn_) no_connection();
  try {
    return co::mysql::query(conn_->mysql, sql);
  } catch (const Error& e) {
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
  PooledConnection* c = std::exchange(conn_, nullptr);
  std::shared_ptr<PoolState> s = std::move(state_);
  --s->in_use;
  bool keep = false;
  try {
    keep = !s->closed && reusable(s->config, c);  // may park (reset, rollback)
  } catch (...) {
    keep = false;
  }
  if (keep) {
    c->raw_access = false;
    c->idle_since = now_ns();
    s->idle.push_back(c);
  } else {
    if (!s->closed) ++s->counters.discarded;
    s->close(c);
  }
  if (!s->closed) s->give_slot();
}

// ---- Pool ------------------------------------------------------------------------------

Pool::Pool(Config config) {
  thread_init();
  if (config.max_connections == 0)
    throw std::invalid_argument("co::mysql::Pool: max_connections must be > 0");
  state_ = std::make_shared<PoolState>(std::move(config));
}

Pool::~Pool() {
  if (!state_) return;
  PoolState& s = *state_;
  s.closed = true;
  if (!s.waiters.empty()) {
    co::log_printf(
        co::LogLevel::error,
        "co::mysql::Pool destroyed while %zu coroutine(s) wait in acquire(): they get an error",
        s.waiters.size());
    for (auto& w : s.waiters) w->queue.notify_all();
    s.waiters.clear();
  }
  for (PooledConnection* c : s.idle) s.close(c);
  s.idle.clear();
}

Connection Pool::acquire() { return acquire(state_->config.acquire_timeout); }

Connection Pool::acquire(std::chrono::milliseconds timeout) {
  std::shared_ptr<PoolState> keep = state_;  // the Pool may be destroyed while we wait
  PoolState& s = *keep;
  check_thread(s);
  if (!s.try_take_slot()) {
    const Deadline deadline = deadline_after(timeout);
    auto w = std::make_shared<Waiter>();
    s.waiters.push_back(w);
    auto forget = [&] {
      const auto it = std::find(s.waiters.begin(), s.waiters.end(), w);
      if (it != s.waiters.end()) s.waiters.erase(it);
    };
    while (!w->granted && !s.closed) {
      WakeReason reason;
      try {
        reason = w->queue.wait(deadline);  // EPERM outside a coroutine
      } catch (...) {
        forget();
        throw;
      }
      if (w->granted || s.closed) break;
      if (reason == WakeReason::timeout) {
        forget();
        ++s.counters.acquire_timeouts;
        char buf[200];
        std::snprintf(
            buf, sizeof buf,
            "co::mysql::Pool: no connection free within %lld ms (max_connections=%zu, all lent to "
            "other coroutines)",
            static_cast<long long>(timeout.count()), s.config.max_connections);
        throw AcquireTimeout(buf);
      }
    }
    if (s.closed) throw Error(0, "HY000", "co::mysql::Pool destroyed while waiting in acquire()");
  }
  // This coroutine owns one slot now: reuse an idle connection or open one.
  try {
    while (!s.idle.empty()) {
      PooledConnection* c = s.idle.back();
      s.idle.pop_back();
      ++s.in_use;  // counted as lent while checked: healthy() may park (mysql_ping)
      if (healthy(s, c)) return Connection(keep, c);
      --s.in_use;
      ++s.counters.health_check_failures;
      s.close(c);
    }
    ++s.open;
    MYSQL* m = nullptr;
    try {
      m = open_connection(s.config);
    } catch (...) {
      --s.open;
      ++s.counters.connect_failures;
      throw;
    }
    ++s.counters.connects;
    auto* c = new PooledConnection(m, s.config.statement_cache_size, now_ns());
    ++s.in_use;
    return Connection(keep, c);
  } catch (...) {
    s.give_slot();
    throw;
  }
}

Pool::Stats Pool::stats() const {
  Pool::Stats st = state_->counters;
  st.open = state_->open;
  st.idle = state_->idle.size();
  st.in_use = state_->in_use;
  st.waiting = state_->waiters.size();
  return st;
}

const Config& Pool::config() const { return state_->config; }

void Pool::close_idle() {
  check_thread(*state_);
  for (PooledConnection* c : state_->idle) state_->close(c);
  state_->idle.clear();
}

}  // namespace co::mysql
