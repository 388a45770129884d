// co::mysql::Pool: MariaDB/MySQL connections shared by the coroutines of one thread.
//
//   co::mysql::Pool pool({.unix_socket = "/run/mysqld/mysqld.sock", .user = "app",
//                         .password = "...", .database = "app", .max_connections = 32});
//   co::go([&] {
//     auto conn = pool.acquire();               // parks while all 32 are busy
//     auto rows = conn.prepare("SELECT id, name FROM users WHERE team=?").execute(team);
//     std::int64_t id = rows[0].get<std::int64_t>("id");
//     mysql_stmt_init(conn.get());              // or the raw libmariadb API on conn.get()
//   });                                         // the connection goes back to the pool here
//
// One Pool per thread. It is driven by the coroutines of the thread that created it: it
// parks them on co::WaitQueue (like co::Semaphore/co::Mutex, a single-thread primitive), and
// a MYSQL* must stay on the thread that opened it. Using a Pool from another thread throws
// std::logic_error; give each thread (each scheduler) its own Pool.
//
// - acquire() lends an idle connection, opens a new one while fewer than max_connections
//   exist, or parks the coroutine until one is returned; after acquire_timeout it throws
//   co::mysql::AcquireTimeout. Waiters are served first come, first served: a returned
//   connection goes to the longest waiter, never to a coroutine that asks again right away.
//   A failed connect throws co::mysql::Error (and frees the slot).
// - Connection (alias Pool::Lease) is move-only; destroying it returns the connection, also
//   when the handler throws. It is closed instead of reused when it saw a connection error
//   (client-side CR_* error: server gone, timeout, ...), when a result set was left unread,
//   or after discard(). An open transaction is rolled back before reuse.
// - Health: an idle connection is checked before it is lent: its socket must not be readable
//   (an idle MySQL connection receives nothing; EOF or an error packet means the server closed
//   or killed it) and, when it was idle longer than ping_after_idle, mysql_ping must succeed.
//   Failing connections are closed and replaced, so the pool recovers by itself after the
//   server restarts: queries in flight when it went away fail with a connection error, the
//   next acquire() reconnects.
// - Nothing of one lease reaches the next: result sets left unread (a CALL, a
//   multi-statement query) are drained, and the session is reset (mysql_reset_connection:
//   session variables such as autocommit, user variables, temporary tables, named locks, an
//   open transaction and the server's prepared statements go; init_command runs again).
//   Config::reset_session = false skips the reset (one round trip per lease) for code that
//   never changes session state; an open transaction is then still rolled back.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cofcgi/adapters/mysql.h"
#include "cofcgi/adapters/mysql_statement.h"
#include "cofcgi/runtime/export.h"

namespace co::mysql {

struct Config {
  // TCP endpoint; ignored when unix_socket is set.
  std::string host = "127.0.0.1";
  unsigned port = 3306;
  // Path of the server's unix socket: connects as host "localhost" over it.
  std::string unix_socket{};
  std::string user{};
  std::string password{};
  std::string database{};
  std::string charset = "utf8mb4";
  // Run by the server on each new connection (MYSQL_INIT_COMMAND), e.g. "SET time_zone='+00:00'".
  std::string init_command{};
  // Reset the session when a lease ends (COM_RESET_CONNECTION, one round trip): the next
  // lease starts with a fresh session. false: session state (variables, locks, temporary
  // tables) survives into the next lease; only an open transaction is rolled back.
  bool reset_session = true;
  // Prepared statements kept per connection (Connection::prepare), least recently used
  // closed first. The server's max_prepared_stmt_count (16382 by default) must cover
  // max_connections x this.
  std::size_t statement_cache_size = 64;
  // Extra CLIENT_* flags for mysql_real_connect (e.g. CLIENT_MULTI_STATEMENTS, CLIENT_FOUND_ROWS).
  unsigned long client_flags = 0;

  std::size_t max_connections = 16;
  // libmariadb's own timeouts (whole seconds, 0 = none): connect, and each read/write wait.
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{30};
  // How long acquire() parks for a free connection before throwing AcquireTimeout.
  std::chrono::milliseconds acquire_timeout{10000};
  // An idle connection that waited longer than this is pinged before it is lent
  // (0: ping every time).
  std::chrono::milliseconds ping_after_idle{5000};
};

namespace detail {
struct PoolState;
struct PooledConnection;
}  // namespace detail

// A connection lent by a Pool; returns to it when destroyed. Move-only.
class COFCGI_API Connection {
 public:
  Connection() = default;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // The libmariadb handle, for the whole C API (prepared statements, ...). Valid until the
  // Connection is released.
  MYSQL* get() const;
  explicit operator bool() const { return conn_ != nullptr; }

  // query/execute/escape: co::mysql::query & co. on this connection. An Error that breaks
  // the connection also marks it for discarding.
  Result query(std::string_view sql);
  std::uint64_t execute(std::string_view sql);
  std::string escape(std::string_view s);
  // prepare returns the connection's prepared statement for `sql`, preparing it on first use
  // (see mysql_statement.h): conn.prepare("SELECT ... WHERE id=?").execute(id).
  Statement prepare(std::string_view sql);

  // discard: close the connection when released instead of reusing it.
  void discard();
  bool discarded() const;
  // release returns the connection to the pool now (also done by the destructor).
  void release() noexcept;

 private:
  friend class Pool;
  Connection(std::shared_ptr<detail::PoolState> state, detail::PooledConnection* conn);
  std::shared_ptr<detail::PoolState> state_;
  detail::PooledConnection* conn_ = nullptr;
};

class COFCGI_API Pool {
 public:
  using Lease = Connection;

  // Calls library_init() and thread_init(). Opens no connection yet.
  explicit Pool(Config config);
  // Closes the idle connections. Connections still lent are closed when returned;
  // coroutines parked in acquire() get co::mysql::Error (and an error is logged).
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // acquire waits at most config().acquire_timeout (or `timeout`). Must run in a coroutine
  // when it has to park (else std::system_error(EPERM)). Throws AcquireTimeout, or Error when
  // a new connection cannot be opened.
  Connection acquire();
  Connection acquire(std::chrono::milliseconds timeout);

  struct Stats {
    std::size_t open = 0;  // connections that exist (idle + lent + being opened)
    std::size_t idle = 0;
    std::size_t in_use = 0;      // lent out
    std::size_t waiting = 0;     // coroutines parked in acquire()
    std::uint64_t connects = 0;  // connections opened
    std::uint64_t connect_failures = 0;
    std::uint64_t discarded = 0;              // closed because broken or discard()ed
    std::uint64_t health_check_failures = 0;  // idle connections found dead before lending
    std::uint64_t acquire_timeouts = 0;
  };
  Stats stats() const;
  const Config& config() const;
  // close_idle closes every idle connection (e.g. after a failover).
  void close_idle();

 private:
  std::shared_ptr<detail::PoolState> state_;
};

}  // namespace co::mysql
