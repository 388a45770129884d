// See mariadb_server.h.
#include "mariadb_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>

#include "fixture_util.h"

namespace fs = std::filesystem;

namespace cofcgi_test {
namespace {

using Clock = std::chrono::steady_clock;

// ---- small helpers ---------------------------------------------------------------------

std::chrono::milliseconds ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
}

// pause_briefly: usleep is hooked, so inside a coroutine this parks only the caller.
void pause_briefly(unsigned us = 10000) { ::usleep(us); }

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::string find_program(std::initializer_list<const char*> names) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  for (const char* d :
       {"/usr/sbin", "/usr/bin", "/usr/libexec", "/usr/local/sbin", "/usr/local/bin", "/sbin"}) {
    dirs.emplace_back(d);
  }
  for (const char* name : names) {
    for (const auto& d : dirs) {
      std::string p = d + "/" + name;
      if (executable(p)) return p;
    }
  }
  return {};
}

std::string mariadbd_path() {
  if (const char* env = std::getenv("COFCGI_MARIADBD"); env && *env) return env;
  std::string p = find_program({"mariadbd", "mysqld"});
  if (p.empty()) {
    throw MariadbServerError(
        "mariadbd not found (install Debian's mariadb-server, see scripts/lib/apt-packages.txt, "
        "or set COFCGI_MARIADBD)");
  }
  return p;
}

// The SQL that mariadb-install-db feeds the bootstrap server, minus the help tables, the
// performance_schema tables and the sys schema (which make up most of its 4 s).
std::string system_tables_dir(const std::string& mariadbd) {
  std::vector<std::string> candidates;
  fs::path prefix = fs::path(mariadbd).parent_path().parent_path();
  candidates.push_back((prefix / "share/mariadb").string());
  candidates.push_back((prefix / "share/mysql").string());
  candidates.emplace_back("/usr/share/mariadb");
  candidates.emplace_back("/usr/share/mysql");
  for (const auto& c : candidates) {
    if (fs::exists(c + "/mysql_system_tables.sql") &&
        fs::exists(c + "/mysql_system_tables_data.sql"))
      return c;
  }
  return {};
}

// Temp dirs whose owner died without cleaning up (SIGKILL, crash): their mariadbd is killed
// and the dir (a ~15 MB datadir) removed.
void kill_stale_server(const fs::path& dir) {
  std::ifstream spid(dir / "mariadbd.pid");
  long server = 0;
  if (spid >> server && server > 0) ::kill(static_cast<pid_t>(server), SIGKILL);
}

// wait_child reaps pid, polling so that a coroutine caller parks (usleep is hooked).
// Returns the wait status, or -1 if it is still running at the deadline.
int wait_child(pid_t pid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return 0;  // not our child any more (reaped elsewhere)
    if (Clock::now() >= deadline) return -1;
    pause_briefly(5000);
  }
}

// Options shared by the bootstrap and the server: those that shape the files must agree.
// Everything is sized for a test: a 16 MB buffer pool, a 4 MB redo log, no binlog, no
// doublewrite, no fsync (the page cache survives a SIGKILL of the server, which is the only
// crash the tests cause; innodb_flush_log_at_trx_commit=2 writes the log at each commit).
std::vector<std::string> storage_args(const std::string& datadir, const std::string& dir) {
  std::vector<std::string> a = {
      "--datadir=" + datadir,
      "--tmpdir=" + dir + "/tmp",
      "--lc-messages=en_US",
      "--skip-log-bin",
      "--innodb-buffer-pool-size=16M",
      "--innodb-log-file-size=4M",
      "--innodb-log-buffer-size=1M",
      "--innodb-flush-log-at-trx-commit=2",
      "--innodb-doublewrite=0",
      "--innodb-flush-method=nosync",
      "--innodb-data-file-path=ibdata1:4M:autoextend",
      "--innodb-autoextend-increment=1",  // a 15 MB datadir instead of 73 MB
      "--innodb-temp-data-file-path=ibtmp1:1M:autoextend",
      "--innodb-undo-tablespaces=0",
      "--aria-pagecache-buffer-size=8M",
      "--key-buffer-size=1M",
  };
  if (::geteuid() == 0) a.emplace_back("--user=root");
  return a;
}

// One blocking (or, in a coroutine, parking) root connection over the socket.
struct AdminConnection {
  MYSQL* mysql = nullptr;
  std::string error;
  unsigned errnum = 0;
  explicit AdminConnection(const std::string& socket_path, unsigned connect_timeout = 5) {
    mysql = mysql_init(nullptr);
    if (!mysql) {
      error = "mysql_init failed";
      return;
    }
    mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    const unsigned io_timeout = 60;
    mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    if (!mysql_real_connect(mysql, "localhost", "root", "", nullptr, 0, socket_path.c_str(),
                            CLIENT_MULTI_STATEMENTS)) {
      errnum = mysql_errno(mysql);
      error = mysql_error(mysql);
      mysql_close(mysql);
      mysql = nullptr;
    }
  }
  ~AdminConnection() {
    if (mysql) mysql_close(mysql);
  }
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;
};

void ensure_client_library() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

}  // namespace

MariadbServer::MariadbServer(MariadbServerOptions options) : options_(std::move(options)) {
  ensure_client_library();
  const char* tmpdir = std::getenv("TMPDIR");
  fs::path tmp = (tmpdir && *tmpdir) ? tmpdir : "/tmp";
  remove_stale_dirs(tmp, "cofcgi-mariadb-", kill_stale_server);
  std::string templ = (tmp / "cofcgi-mariadb-XXXXXX").string();
  if (!::mkdtemp(templ.data())) {
    throw MariadbServerError("mkdtemp " + templ + ": " + std::strerror(errno));
  }
  dir_ = templ;
  datadir_ = dir_ + "/data";
  socket_path_ = dir_ + "/mysqld.sock";
  log_path_ = dir_ + "/mariadbd.err";
  if (socket_path_.size() >= sizeof(sockaddr_un{}.sun_path)) {
    fs::remove_all(dir_);
    throw MariadbServerError("socket path too long (set TMPDIR shorter): " + socket_path_);
  }
  fs::create_directories(dir_ + "/tmp");
  std::ofstream(dir_ + "/owner.pid") << ::getpid() << "\n";
}

MariadbServer::~MariadbServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  std::error_code ec;
  const char* keep = std::getenv("COFCGI_MARIADB_KEEP");
  if (keep && *keep == '1') {
    fs::remove(dir_ + "/owner.pid", ec);  // so no later fixture takes it for stale
    std::fprintf(stderr, "mariadb fixture: kept %s (COFCGI_MARIADB_KEEP=1)\n", dir_.c_str());
  } else {
    fs::remove_all(dir_, ec);
  }
}

std::string MariadbServer::log_tail(std::size_t lines) const { return file_tail(log_path_, lines); }

void MariadbServer::fail(const std::string& what) const {
  throw MariadbServerError("mariadb fixture (" + dir_ + "): " + what + "\n--- " + log_path_ +
                           " (tail) ---\n" + log_tail());
}

void MariadbServer::bootstrap() {
  const auto t0 = Clock::now();
  const std::string mariadbd = mariadbd_path();
  const std::string share = system_tables_dir(mariadbd);
  std::vector<std::string> args;
  std::string input;
  if (!share.empty()) {
    // What mariadb-install-db does, with only the system tables: ~1.5 s instead of ~4.5 s.
    input = dir_ + "/bootstrap.sql";
    std::ofstream sql(input);
    sql << "create database if not exists mysql;\nuse mysql;\nSET @auth_root_socket=NULL;\n"
        << read_file(share + "/mysql_system_tables.sql") << "\n"
        << read_file(share + "/mysql_system_tables_data.sql") << "\n";
    if (!sql) fail("cannot write " + input);
    args = {mariadbd,
            "--no-defaults",
            "--bootstrap",
            "--silent-startup",
            "--log-warnings=0",
            "--enforce-storage-engine=",
            "--max-allowed-packet=8M",
            "--net-buffer-length=16K"};
    fs::create_directories(datadir_);
  } else {
    const std::string install_db = find_program({"mariadb-install-db", "mysql_install_db"});
    if (install_db.empty()) fail("neither the system tables SQL nor mariadb-install-db was found");
    args = {install_db, "--no-defaults", "--auth-root-authentication-method=normal",
            "--skip-test-db", "--skip-name-resolve"};
  }
  for (auto& a : storage_args(datadir_, dir_)) args.push_back(std::move(a));
  const pid_t pid = spawn_logged(args, dir_ + "/bootstrap.log", input);
  track_process_group(pid);
  const int status = wait_child(pid, Clock::now() + std::chrono::minutes(5));
  if (status == -1) {
    ::kill(pid, SIGKILL);
    wait_child(pid, Clock::now() + std::chrono::seconds(10));
  }
  untrack_process_group(pid);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw MariadbServerError("mariadb fixture: bootstrap " +
                             (status == -1 ? std::string("timed out") : describe_status(status)) +
                             ":\n" + read_file(dir_ + "/bootstrap.log"));
  }
  bootstrapped_ = true;
  bootstrap_time_ = ms_since(t0);
}

void MariadbServer::spawn() {
  std::vector<std::string> args = {
      mariadbd_path(),
      "--no-defaults",
      "--socket=" + socket_path_,
      "--port=" + std::to_string(port_),
      "--bind-address=" + host_,
      "--pid-file=" + dir_ + "/mariadbd.pid",
      "--log-error=" + log_path_,
      "--skip-name-resolve",
      "--performance-schema=OFF",
      "--max-connections=2000",
      "--max-connect-errors=1000000",
      "--skip-external-locking",
      "--thread-cache-size=256",
      "--back-log=512",
  };
  for (auto& a : storage_args(datadir_, dir_)) args.push_back(std::move(a));
  for (const auto& a : options_.extra_args) args.push_back(a);
  pid_ = spawn_logged(args, dir_ + "/mariadbd.out", "");
  track_process_group(pid_);
}

bool MariadbServer::reap(bool block) {
  if (pid_ <= 0) return true;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  if (r == 0) return false;
  untrack_process_group(pid_);
  pid_ = -1;
  return true;
}

void MariadbServer::wait_until_ready() {
  const auto deadline = Clock::now() + options_.start_timeout;
  std::string last_error;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      untrack_process_group(pid_);
      pid_ = -1;
      fail("mariadbd " + describe_status(status) +
           " while starting (last connect error: " + last_error + ")");
    }
    if (::access(socket_path_.c_str(), F_OK) == 0) {
      AdminConnection c(socket_path_);
      if (c.mysql) return;
      last_error = c.error;
    }
    if (Clock::now() >= deadline) {
      kill();
      fail("mariadbd did not accept connections within " +
           std::to_string(options_.start_timeout.count()) +
           " s (last connect error: " + last_error + ")");
    }
    pause_briefly(5000);
  }
}

void MariadbServer::admin_query(const std::string& sql) const {
  AdminConnection c(socket_path_);
  if (!c.mysql) fail("admin connect: " + c.error);
  if (mysql_real_query(c.mysql, sql.data(), sql.size()) != 0) {
    fail("admin query '" + sql + "': " + mysql_error(c.mysql));
  }
  // Drain every result of a multi-statement.
  for (;;) {
    if (MYSQL_RES* res = mysql_store_result(c.mysql)) mysql_free_result(res);
    if (mysql_errno(c.mysql) != 0) fail("admin query '" + sql + "': " + mysql_error(c.mysql));
    const int next = mysql_next_result(c.mysql);
    if (next > 0) fail("admin query '" + sql + "': " + mysql_error(c.mysql));
    if (next < 0) break;
  }
}

void MariadbServer::create_user_and_database() {
  const std::string& u = options_.user;
  const std::string& p = options_.password;
  const std::string& d = options_.database;
  // 'localhost' too: an anonymous ''@'localhost' would otherwise win over 'user'@'%' for
  // socket connections.
  admin_query("CREATE DATABASE IF NOT EXISTS `" + d + "`;" + "CREATE USER IF NOT EXISTS '" + u +
              "'@'%' IDENTIFIED BY '" + p + "';" + "CREATE USER IF NOT EXISTS '" + u +
              "'@'localhost' IDENTIFIED BY '" + p + "';" + "GRANT ALL PRIVILEGES ON `" + d +
              "`.* TO '" + u + "'@'%';" + "GRANT ALL PRIVILEGES ON `" + d + "`.* TO '" + u +
              "'@'localhost';" + "GRANT PROCESS ON *.* TO '" + u + "'@'%';" +
              "GRANT PROCESS ON *.* TO '" + u + "'@'localhost';");
  provisioned_ = true;
}

void MariadbServer::start() {
  if (pid_ > 0) return;
  if (!bootstrapped_) bootstrap();
  const bool pick_port = port_ == 0;
  for (int attempt = 0;; ++attempt) {
    if (pick_port) port_ = pick_free_port();
    // A unix socket file left by a killed server is removed by mariadbd itself (it checks
    // nobody listens); a stale pid file is harmless.
    const auto t0 = Clock::now();
    spawn();
    try {
      wait_until_ready();
    } catch (const MariadbServerError&) {
      // The port picked may have been taken between our bind and the server's: retry once
      // with another (only while we choose the port; a restart must keep it).
      if (pick_port && attempt < 2 &&
          log_tail(5).find("Address already in use") != std::string::npos) {
        port_ = 0;
        continue;
      }
      if (pick_port) port_ = 0;
      throw;
    }
    last_start_time_ = ms_since(t0);
    break;
  }
  if (!provisioned_) create_user_and_database();
}

void MariadbServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const int status = wait_child(pid_, Clock::now() + options_.stop_timeout);
  if (status == -1) {
    ::kill(pid_, SIGKILL);
    wait_child(pid_, Clock::now() + std::chrono::seconds(30));
  }
  untrack_process_group(pid_);
  pid_ = -1;
}

void MariadbServer::kill(int sig) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGQUIT || sig == SIGABRT) {
    wait_child(pid_, Clock::now() + std::chrono::seconds(60));
    untrack_process_group(pid_);
    pid_ = -1;
  }
}

void MariadbServer::restart() {
  stop();
  start();
}

}  // namespace cofcgi_test
