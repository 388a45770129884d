// MariadbServer: a private mariadbd for tests and benchmarks, owned by the process that
// starts it. No system service, no config file: Debian's mariadb-server binaries only.
//
//   cofcgi_test::MariadbServer db;   // makes a temp dir; nothing runs yet
//   db.start();                      // first start: bootstrap the datadir, start mariadbd on
//                                    // a unix socket and 127.0.0.1:<free port>, wait until it
//                                    // accepts, create user() / password() / database()
//   ... connect to db.socket_path() or db.host():db.port() as db.user() ...
//   db.kill();                       // SIGKILL (crash); db.start() brings it back on the same
//                                    // socket, port and datadir (InnoDB recovers)
//   db.restart();                    // clean stop + start
//   // ~MariadbServer: SIGKILL and remove the temp dir.
//
// The server can never outlive the test: the child is started with PR_SET_PDEATHSIG=SIGKILL
// (it dies with the thread that started it, even when the test is SIGKILLed by a CTest
// timeout), the destructor kills it, and an atexit handler kills any server still running at
// exit(). Temp dirs left by a process that died anyway are removed by the next start().
// Start the server from a thread that lives as long as the server (the main thread).
//
// start()/stop()/kill()/restart() may be called from a coroutine: they only make calls the
// hooks park (connect, poll, usleep), and wait for the child with waitpid(WNOHANG) + usleep.
//
// Environment: COFCGI_MARIADBD (path of mariadbd), COFCGI_MARIADB_KEEP=1 (keep the temp dir
// for post-mortem), TMPDIR (where the temp dir goes; socket paths must stay < 108 bytes).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cofcgi_test {

struct MariadbServerOptions {
  std::string user = "cofcgi";
  std::string password = "cofcgi-secret";
  std::string database = "cofcgi_test";
  // Passed to mariadbd after the fixture's own options (later options win).
  std::vector<std::string> extra_args;
  // How long start() waits for the server to accept connections.
  std::chrono::seconds start_timeout{60};
  // How long stop() waits after SIGTERM before it SIGKILLs.
  std::chrono::seconds stop_timeout{30};
};

// Thrown when the server cannot be set up or started; what() carries the log's tail.
class MariadbServerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class MariadbServer {
 public:
  explicit MariadbServer(MariadbServerOptions options = {});
  ~MariadbServer();
  MariadbServer(const MariadbServer&) = delete;
  MariadbServer& operator=(const MariadbServer&) = delete;

  // start bootstraps the datadir the first time, starts mariadbd and waits until it accepts
  // connections (and, the first time, creates the user and database). No-op when running.
  void start();
  // stop shuts the server down cleanly (SIGTERM, waits; SIGKILL after stop_timeout).
  void stop();
  // kill sends `sig` (default SIGKILL: a crash) and reaps the server.
  void kill(int sig = SIGKILL);
  // restart is stop() then start() (same datadir, socket and port).
  void restart();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Connection parameters.
  const std::string& socket_path() const { return socket_path_; }
  const std::string& host() const { return host_; }  // "127.0.0.1"
  std::uint16_t port() const { return port_; }
  const std::string& user() const { return options_.user; }
  const std::string& password() const { return options_.password; }
  const std::string& database() const { return options_.database; }
  // root has no password and may connect over the unix socket only.
  static const char* root_user() { return "root"; }

  const std::string& dir() const { return dir_; }
  const std::string& datadir() const { return datadir_; }
  const std::string& log_path() const { return log_path_; }
  std::string log_tail(std::size_t lines = 30) const;

  // Timings of the last bootstrap and of the last start (fork to first accepted connection).
  std::chrono::milliseconds bootstrap_time() const { return bootstrap_time_; }
  std::chrono::milliseconds last_start_time() const { return last_start_time_; }

  // admin_query runs statements as root over the unix socket (one blocking connection; it
  // parks only the caller inside a coroutine). Throws MariadbServerError on error.
  void admin_query(const std::string& sql) const;

 private:
  void bootstrap();
  void spawn();
  void wait_until_ready();
  void create_user_and_database();
  bool reap(bool block);
  [[noreturn]] void fail(const std::string& what) const;

  MariadbServerOptions options_;
  std::string dir_, datadir_, socket_path_, log_path_, host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool bootstrapped_ = false;
  bool provisioned_ = false;
  std::chrono::milliseconds bootstrap_time_{0};
  std::chrono::milliseconds last_start_time_{0};
};

}  // namespace cofcgi_test
