// Opening, checking and resetting pooled connections under a deadline (see connect.h).
#include "connect.h"

#include <errmsg.h>
#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/netpoll.h"
#include "session_effects.h"

namespace co::mysql::detail {

namespace {

// Watchdog: while it lives, a coroutine waits for `deadline`; if the deadline passes first,
// it shuts the connection's socket down, so the libmariadb call parked on it fails at once
// (CR_SERVER_LOST) and the connection is discarded. libmariadb's own timeouts are whole
// seconds per read and cannot be changed on an open connection; this bounds a whole
// exchange. Only inside a coroutine (elsewhere nothing else could run to fire it).
class Watchdog {
 public:
  Watchdog(MYSQL* mysql, Deadline deadline) {
    if (deadline == kNoDeadline || !co::in_coroutine()) return;
    state_ = std::make_shared<State>();
    state_->mysql = mysql;
    co::go([state = state_, deadline] { watch(*state, deadline); });
  }
  ~Watchdog() {
    if (!state_) return;
    state_->done = true;
    state_->queue.notify_all();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  // On the heap: the watching coroutine and the watched call share it.
  struct State {
    MYSQL* mysql = nullptr;
    bool done = false;
    WaitQueue queue;
  };

  static void watch(State& s, Deadline deadline) {
    while (!s.done) {
      const WakeReason r = s.queue.wait(deadline);
      if (s.done || r != WakeReason::timeout) return;
      // During mysql_real_connect the socket may not exist yet: look again shortly.
      const my_socket fd = mysql_get_socket(s.mysql);
      if (fd >= 0) {
        ::shutdown(static_cast<int>(fd), SHUT_RDWR);
        return;
      }
      deadline = deadline_after(std::chrono::milliseconds(10));
    }
  }

  std::shared_ptr<State> state_;
};

std::string endpoint(const Config& c) {
  if (!c.unix_socket.empty()) return "unix:" + c.unix_socket;
  return c.host + ":" + std::to_string(c.port);
}

// whole_seconds_left: libmariadb's connect timeout (whole seconds, at least 1) for what is
// left until `deadline`, capped by Config::connect_timeout.
unsigned whole_seconds_left(const Config& c, Deadline deadline) {
  unsigned s = static_cast<unsigned>(c.connect_timeout.count());
  if (deadline != kNoDeadline) {
    const Deadline left = deadline - now_ns();
    const auto ceil_s = static_cast<unsigned>(left <= 0 ? 1 : (left + 999999999) / 1000000000);
    if (s == 0 || ceil_s < s) s = ceil_s;
  }
  return s;
}

void set_options(MYSQL* m, const Config& c, Deadline deadline) {
  const unsigned connect_timeout = whole_seconds_left(c, deadline);
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
  if (c.set_options) c.set_options(m);
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
bool reset_session(const Config& config, PooledConnection& c) {
  MYSQL* m = c.mysql;
  if (mysql_reset_connection(m) != 0) return false;
  c.statements.clear();  // the reset dropped them on the server
  c.session_changed = false;
  if (c.session_tracked && !enable_session_tracking(m)) return false;  // reset turned it off
  if (config.init_command.empty()) return true;
  if (mysql_real_query(m, config.init_command.data(), config.init_command.size()) != 0)
    return false;
  return drain_results(m);
}

unsigned server_status(MYSQL* m) {
  unsigned status = 0;
  mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_STATUS, &status);
  return status;
}

}  // namespace

MYSQL* open_connection(const Config& c, Deadline deadline, bool* session_tracked) {
  MYSQL* m = mysql_init(nullptr);
  if (m == nullptr) throw Error(CR_OUT_OF_MEMORY, "HY001", "co::mysql::Pool: mysql_init failed");
  set_options(m, c, deadline);
  const bool unix = !c.unix_socket.empty();
  const char* db = c.database.empty() ? nullptr : c.database.c_str();
  bool ok;
  {
    const Watchdog watchdog(m, deadline);
    ok = mysql_real_connect(m, unix ? "localhost" : c.host.c_str(), c.user.c_str(),
                            c.password.c_str(), db, unix ? 0 : c.port,
                            unix ? c.unix_socket.c_str() : nullptr, c.client_flags) != nullptr;
    // Without the tracker every lease counts as having changed the session (always reset).
    *session_tracked =
        ok && c.reset_session && c.reset_only_when_changed && enable_session_tracking(m);
  }
  if (!ok) {
    const unsigned code = mysql_errno(m);
    const std::string state = mysql_sqlstate(m);
    const std::string message = "co::mysql::Pool: connect to " + endpoint(c) + ": " +
                                mysql_error(m) + " (" + std::to_string(code) + ")";
    mysql_close(m);
    throw Error(code, state, message);
  }
  return m;
}

bool healthy(const Config& config, PooledConnection& c, Deadline deadline) {
  const Deadline now = now_ns();
  if (config.max_lifetime.count() > 0 &&
      now - c.opened_at >= std::chrono::nanoseconds(config.max_lifetime).count())
    return false;
  const my_socket fd = mysql_get_socket(c.mysql);
  if (fd < 0) return false;
  // The last read of the connection left its socket empty and this thread's epoll saw no
  // edge since (not even the server's FIN): nothing to read, known without a syscall.
  if (!co::fd_known_not_ready(static_cast<int>(fd), POLLIN)) {
    pollfd p{static_cast<int>(fd), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) != 0) return false;
  }
  if (now - c.idle_since < std::chrono::nanoseconds(config.ping_after_idle).count()) return true;
  const Watchdog watchdog(c.mysql, deadline);
  return mysql_ping(c.mysql) == 0;
}

bool make_reusable(const Config& config, PooledConnection& c, Deadline deadline) {
  MYSQL* m = c.mysql;
  if (c.broken || m == nullptr || mysql_get_socket(m) < 0) return false;
  if (Error::is_connection_error(mysql_errno(m))) return false;
  if (config.max_lifetime.count() > 0 &&
      now_ns() - c.opened_at >= std::chrono::nanoseconds(config.max_lifetime).count())
    return false;
  const bool in_transaction = (server_status(m) & SERVER_STATUS_IN_TRANS) != 0;
  // Config::reset_only_when_changed: a lease that provably changed nothing keeps the
  // session, and with it the prepared statements (session_effects.h).
  const bool reset =
      config.reset_session && (!c.session_tracked || c.session_changed || in_transaction);
  if (!reset && !in_transaction && !c.raw_access && !mysql_more_results(m))
    return true;  // nothing to send: no watchdog either
  const Watchdog watchdog(m, deadline);
  if (!drain_results(m)) return false;
  if (reset) return reset_session(config, c);
  if (server_status(m) & SERVER_STATUS_IN_TRANS) return mysql_rollback(m) == 0;
  // A query sent with the raw API whose result was never fetched: the libmariadb state that
  // says so is private; a ping fails "out of sync" then (the reset above skips the result).
  if (c.raw_access) return mysql_ping(m) == 0;
  return true;
}

}  // namespace co::mysql::detail
