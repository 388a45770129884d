// Shared by the MariaDB adapter tests: the process's private server, raw libmariadb
// connections over each transport, a ticker that proves the thread never blocked, and a way
// to run coroutines and see their exceptions.
#pragma once

#include <doctest/doctest.h>
#include <mysql.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cofcgi/adapters/mysql.h"
#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/runtime.h"
#include "cofcgi/runtime/unique_fd.h"
#include "mariadb_server.h"

namespace mysql_test {

using namespace std::chrono_literals;

inline double seconds_since(co::Deadline start) {
  return static_cast<double>(co::now_ns() - start) / 1e9;
}

// server() is this process's private mariadbd, started on first use (each test source is
// its own CTest process, so each gets its own) and killed, its temp dir removed, at exit.
// Prints its bootstrap and start times once.
inline cofcgi_test::MariadbServer& server() {
  co::mysql::library_init();  // main thread, before any coroutine
  co::mysql::thread_init();
  static cofcgi_test::MariadbServer s;
  static const bool started = [] {
    s.start();
    std::printf("mariadb fixture: bootstrap %lld ms, start %lld ms, socket %s, port %u\n",
                static_cast<long long>(s.bootstrap_time().count()),
                static_cast<long long>(s.last_start_time().count()), s.socket_path().c_str(),
                static_cast<unsigned>(s.port()));
    std::fflush(stdout);
    return true;
  }();
  (void)started;
  return s;
}

enum class Transport {
  unix_default_host,  // host NULL + socket path (libmariadb's default: the unix socket)
  unix_localhost,     // host "localhost" + socket path
  tcp,                // host "127.0.0.1" + port
};

inline const char* name(Transport t) {
  switch (t) {
    case Transport::unix_default_host: return "unix(host=NULL)";
    case Transport::unix_localhost: return "unix(host=localhost)";
    case Transport::tcp: return "tcp(127.0.0.1)";
  }
  return "?";
}

struct MysqlCloser {
  void operator()(MYSQL* m) const { mysql_close(m); }
};
using MysqlPtr = std::unique_ptr<MYSQL, MysqlCloser>;

struct ConnectOptions {
  unsigned connect_timeout = 10;
  unsigned read_timeout = 0;
  unsigned write_timeout = 0;
  unsigned long flags = 0;
};

// connect opens a raw libmariadb connection as the fixture's user; throws co::mysql::Error.
inline MysqlPtr connect(Transport t, const ConnectOptions& o = {},
                        cofcgi_test::MariadbServer& s = server()) {
  MysqlPtr m(mysql_init(nullptr));
  REQUIRE(m);
  mysql_optionsv(m.get(), MYSQL_OPT_CONNECT_TIMEOUT, &o.connect_timeout);
  if (o.read_timeout) mysql_optionsv(m.get(), MYSQL_OPT_READ_TIMEOUT, &o.read_timeout);
  if (o.write_timeout) mysql_optionsv(m.get(), MYSQL_OPT_WRITE_TIMEOUT, &o.write_timeout);
  const char* host = nullptr;
  unsigned port = 0;
  const char* sock = nullptr;
  switch (t) {
    case Transport::unix_default_host: sock = s.socket_path().c_str(); break;
    case Transport::unix_localhost:
      host = "localhost";
      sock = s.socket_path().c_str();
      break;
    case Transport::tcp:
      host = "127.0.0.1";
      port = s.port();
      break;
  }
  if (!mysql_real_connect(m.get(), host, s.user().c_str(), s.password().c_str(),
                          s.database().c_str(), port, sock, o.flags)) {
    co::mysql::throw_error(m.get(), (std::string("connect ") + name(t)).c_str());
  }
  return m;
}

inline co::mysql::Config pool_config(bool unix_socket, std::size_t max_connections,
                                     cofcgi_test::MariadbServer& s = server()) {
  co::mysql::Config c;
  if (unix_socket) {
    c.unix_socket = s.socket_path();
  } else {
    c.host = s.host();
    c.port = s.port();
  }
  c.user = s.user();
  c.password = s.password();
  c.database = s.database();
  c.max_connections = max_connections;
  c.connect_timeout = 5s;
  c.read_timeout = 30s;
  c.write_timeout = 30s;
  return c;
}

// Ticker: a coroutine that wakes every `period` and records the longest gap between two
// wake-ups. A call that blocked the thread instead of parking its coroutine shows as a gap.
class Ticker {
 public:
  explicit Ticker(std::chrono::milliseconds period = 10ms) : period_(period) {}
  void start() {
    co::go([this] {
      co::Deadline last = co::now_ns();
      while (!stop_) {
        co::sleep_for(period_);
        const co::Deadline now = co::now_ns();
        max_gap_ = std::max(max_gap_, static_cast<double>(now - last) / 1e9);
        last = now;
        ++ticks_;
      }
      done_ = true;
    });
  }
  void stop() { stop_ = true; }
  double max_gap() const { return max_gap_; }
  long ticks() const { return ticks_; }

 private:
  std::chrono::milliseconds period_;
  bool stop_ = false;
  bool done_ = false;
  double max_gap_ = 0;
  long ticks_ = 0;
};

// scalar: the one value of a one-row, one-column query on a pooled connection ("NULL" for
// NULL); raw_scalar: the same on a fresh raw connection of its own.
inline std::string scalar(co::mysql::Connection& c, const std::string& sql) {
  auto r = c.query(sql);
  REQUIRE(r.size() == 1);
  return r[0][0].value_or("NULL");
}

inline std::string raw_scalar(const std::string& sql) {
  MysqlPtr m = connect(Transport::unix_localhost);
  auto r = co::mysql::query(m.get(), sql);
  REQUIRE(r.size() == 1);
  return r[0][0].value_or("NULL");
}

// run_coroutines runs `body(i)` in n coroutines plus the ticker (if given) under co::run()
// on this thread; exceptions escaping a body are collected and reported as test failures.
inline std::vector<std::string> run_coroutines(int n, const std::function<void(int)>& body,
                                               Ticker* ticker = nullptr) {
  std::vector<std::string> errors;
  co::WaitGroup wg;
  wg.add(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    co::go([&, i] {
      try {
        body(i);
      } catch (const std::exception& e) {
        errors.push_back("coroutine " + std::to_string(i) + ": " + e.what());
      } catch (...) {
        // A failed REQUIRE inside the body (already recorded by doctest).
        errors.push_back("coroutine " + std::to_string(i) + ": stopped by a failed REQUIRE");
      }
      wg.done();
    });
  }
  if (ticker) {
    ticker->start();
    co::go([&] {
      wg.wait();
      ticker->stop();
    });
  }
  co::run();
  for (const auto& e : errors) FAIL_CHECK(e);
  return errors;
}

// A TCP listener on loopback that never accepts: connects complete (the kernel's backlog),
// the MySQL handshake never comes, as with a stopped or wedged server.
struct SilentListener {
  co::UniqueFd fd;
  unsigned port = 0;
  SilentListener() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd.get() >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd.get(), 64) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
};

}  // namespace mysql_test
