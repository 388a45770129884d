// co::mysql::Pool: MariaDB/MySQL connections shared by every coroutine of every thread of a
// process. Make ONE Pool (e.g. in main(), before the server starts) and use it from any
// scheduler thread:
//
//   co::mysql::Pool pool({.unix_socket = "/run/mysqld/mysqld.sock", .user = "app",
//                         .password = "...", .database = "app", .max_connections = 32});
//   co::go([&] {
//     auto conn = pool.acquire();               // parks while all 32 are busy
//     auto rows = conn.prepare("SELECT id, name FROM users WHERE team=?").execute(team);
//     std::int64_t id = rows[0].get<std::int64_t>("id");
//   });                                         // the connection goes back to the pool here
//
// - max_connections is the limit for the whole process. Inside, each thread keeps its own
//   connections (a MYSQL* stays on the thread that opened it, and coroutines park on
//   single-thread queues); the threads share the budget: when one thread's coroutines wait
//   and have no connection of their own to wait for, another thread closes an idle or
//   returned connection so they can open one (one reconnect).
// - acquire() lends an idle connection of this thread, opens a new one while the budget
//   allows, or parks the coroutine until one is returned; after acquire_timeout it throws
//   co::mysql::AcquireTimeout. Waiters of a thread are served first come, first served.
//   A failed connect throws co::mysql::Error. While the server is down (a connect failed),
//   acquirers that need a new connection fail at once (Error, "backoff") until a delay
//   (backoff_initial, doubling up to backoff_max) passes; then one of them tries. Except
//   while connections of the acquirer's thread are lent: the server answers those, so an
//   acquirer whose connect failed or was refused waits for one of them to come back (up to
//   acquire_timeout) instead; when none is lent any more it connects once more and throws
//   on failure (a crashed server fails every lease, so requests still fail fast).
// - Connection (alias Pool::Lease) is move-only; destroying it returns the connection, also
//   when the handler throws. It is closed instead of reused after any client-side error
//   (CR_*: server gone, lost, read timeout, a hooked call that failed with ETIMEDOUT or
//   ECANCELED), after discard(), or past max_lifetime.
// - Cancellation (cofcgi/runtime/cancel.h): acquire(), query(), prepare() and execute() in a
//   coroutine already cancelled or past its deadline fail at once (Error, SQLSTATE HY008,
//   not connection_broken()) without sending anything, so the connection stays in step and
//   is kept; a call cut while it waits for the server loses its connection. A connect cut by
//   its own coroutine's cancel does not start the backoff (it says nothing about the server).
//   The drain and reset at release run in a cancelled coroutine too (bounded as below).
// - Health and deadlines: an idle connection is checked before it is lent (its socket must
//   have nothing to read; after ping_after_idle it must answer mysql_ping). Opening a
//   connection, the check and the reset at release are each bounded by connect_timeout: a
//   server that stopped answering (SIGSTOP, a half-open TCP connection) costs that, not
//   read_timeout (the socket is shut down when it passes). Queries are bounded by
//   read_timeout/write_timeout.
// - Nothing of one lease reaches the next: result sets left unread (a CALL, a
//   multi-statement query) are drained, and the session is reset (mysql_reset_connection:
//   session variables such as autocommit, user variables, temporary tables, named locks, an
//   open transaction and the server's prepared statements go; init_command runs again).
//   Config::reset_session = false skips the reset (one round trip per lease) for code that
//   never changes session state; an open transaction is then still rolled back.
//   Config::reset_only_when_changed resets only after a lease that may have changed the
//   session (the server's session tracker and the statements' text say; see Config).
// - Idle connections: at most max_idle are kept (more are closed when returned); those idle
//   longer than idle_timeout are closed (keeping min_idle), checked whenever the thread
//   acquires or releases (no timer: a thread with no traffic keeps its idle connections
//   until the next one; the server's wait_timeout and the health check cover that).
// - Threads: a thread's part of the pool ends with the thread (its idle connections are
//   closed there); a Pool kept in a thread_local may be destroyed at that thread's exit.
//   Destroying the Pool closes the idle connections (other threads' on their own
//   schedulers); connections still lent are closed when returned; coroutines parked in
//   acquire() get co::mysql::Error.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
  // Run by the server on each new connection (MYSQL_INIT_COMMAND) and again after each
  // session reset, e.g. "SET time_zone='+00:00'".
  std::string init_command{};
  // Reset the session when a lease ends (COM_RESET_CONNECTION, one round trip): the next
  // lease starts with a fresh session. false: session state (variables, locks, temporary
  // tables) survives into the next lease; only an open transaction is rolled back.
  bool reset_session = true;
  // With reset_session: reset only after a lease that may have changed the session, so that
  // the others keep it, and with it the connection's prepared statements (no reset and no
  // re-prepare: two round trips fewer per lease). The pool turns the server's session state
  // tracker on (MariaDB >= 10.2, MySQL >= 5.7; without it every lease is reset) and resets
  // after a lease that: the tracker saw change session state (SET of session or user
  // variables, SET NAMES, autocommit, temporary tables, SQL PREPARE, USE, also inside stored
  // routines); ran any statement that is not one plain SELECT/INSERT/UPDATE/DELETE/REPLACE/
  // WITH free of '@', ':=', ';' and "lock" (so GET_LOCK, LOCK TABLES, CALL, SET, `@v:=`);
  // left a transaction open; had a statement fail; or took the raw handle (get()). Not
  // seen: named locks or `@v:=` inside a stored function that a plain statement calls, and
  // LAST_INSERT_ID()/FOUND_ROWS() of the previous lease (ask them only after your own
  // statement). Off by default: the default reset leaves no such exception.
  bool reset_only_when_changed = false;
  // Prepared statements kept per connection (Connection::prepare), least recently used
  // closed first. The server's max_prepared_stmt_count (16382 by default) must cover
  // max_connections x this.
  std::size_t statement_cache_size = 64;
  // Extra CLIENT_* flags for mysql_real_connect (e.g. CLIENT_MULTI_STATEMENTS, CLIENT_FOUND_ROWS).
  unsigned long client_flags = 0;
  // Called on each new MYSQL* after the pool's own options, before mysql_real_connect: the
  // place for any mysql_optionsv, e.g. TLS:
  //   cfg.set_options = [](MYSQL* m) {
  //     mysql_optionsv(m, MYSQL_OPT_SSL_CA, "/etc/mysql/ca.pem");
  //     my_bool verify = 1; mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  //   };
  // It may run on any thread using the pool.
  std::function<void(MYSQL*)> set_options{};

  // Connections open at once, all threads together (lent + idle + being opened).
  std::size_t max_connections = 16;
  // Idle connections kept (nullopt: up to max_connections); more are closed when returned.
  std::optional<std::size_t> max_idle{};
  // Idle connections idle_timeout does not close.
  std::size_t min_idle = 0;
  // A connection older than this is closed when returned or before it is lent (0: never).
  std::chrono::milliseconds max_lifetime{std::chrono::minutes(30)};
  // An idle connection unused this long is closed (0: never).
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(10)};
  // The deadline for getting a usable connection: connect + handshake, or the health check
  // of an idle one; also bounds the session reset at release. libmariadb's own connect
  // timeout is set from it too.
  std::chrono::seconds connect_timeout{5};
  // libmariadb's read/write timeouts (whole seconds, 0 = none): each wait of a query.
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{30};
  // How long acquire() parks for a free connection before throwing AcquireTimeout.
  std::chrono::milliseconds acquire_timeout{10000};
  // An idle connection that waited longer than this is pinged before it is lent
  // (0: ping every time).
  std::chrono::milliseconds ping_after_idle{5000};
  // After a failed connect that cost time (a timeout), acquirers needing a new connection
  // fail at once for backoff_initial, doubling after each failed retry up to backoff_max.
  // A connect refused at once (server down or full) backs off 4x what it cost (>= 1 ms,
  // <= backoff_initial), so a restarted server is seen within about a millisecond.
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{2000};
};

namespace detail {
struct Shared;
struct ThreadPool;
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
  Connection(std::shared_ptr<detail::ThreadPool> pool, detail::PooledConnection* conn);
  std::shared_ptr<detail::ThreadPool> pool_;
  detail::PooledConnection* conn_ = nullptr;
};

class COFCGI_API Pool {
 public:
  using Lease = Connection;

  // Calls library_init(). Opens no connection yet. Throws std::invalid_argument for
  // max_connections == 0.
  explicit Pool(Config config);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // acquire waits at most config().acquire_timeout (or `timeout`). From any thread; must
  // run in a coroutine when it has to park (else std::system_error(EPERM)). Throws
  // AcquireTimeout, or Error when a new connection cannot be opened (or the backoff refuses).
  Connection acquire();
  Connection acquire(std::chrono::milliseconds timeout);

  // Stats: the whole process (all threads), read from any thread (e.g. a status page).
  // Gauges are a snapshot, counters count since the Pool was made.
  struct Stats {
    std::size_t max_open = 0;  // Config::max_connections
    std::size_t open = 0;      // connections that exist (idle + lent + being opened)
    std::size_t idle = 0;
    std::size_t in_use = 0;      // lent out (and being opened or checked)
    std::size_t waiting = 0;     // coroutines parked in acquire()
    std::size_t threads = 0;     // threads that have used the pool
    std::uint64_t connects = 0;  // connections opened
    std::uint64_t connect_failures = 0;
    std::uint64_t backoff_refusals = 0;       // acquires refused at once: server down
    std::uint64_t discarded = 0;              // closed because broken or discard()ed
    std::uint64_t expired = 0;                // closed by idle_timeout
    std::uint64_t health_check_failures = 0;  // idle connections found dead before lending
    std::uint64_t acquire_timeouts = 0;
    std::uint64_t waits = 0;          // acquires that had to park
    std::uint64_t wait_ns_total = 0;  // time they parked, in total
    std::uint64_t wait_ns_max = 0;    // and the longest
  };
  Stats stats() const;
  const Config& config() const;
  // close_idle closes every idle connection (e.g. after a failover): this thread's now,
  // other threads' when their schedulers run.
  void close_idle();

 private:
  std::shared_ptr<detail::Shared> shared_;
};

}  // namespace co::mysql
