// The MariaDB fixture itself (tests/support/mariadb_server.h): bootstrap and start times,
// the user/database it creates over both transports, stop/kill/restart keeping socket, port
// and data, and no server or temp dir left behind.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

std::string scalar(MYSQL* m, const char* sql) {
  const co::mysql::Result r = co::mysql::query(m, sql);
  REQUIRE(r.size() == 1);
  return r.value(0, 0);
}

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

}  // namespace

TEST_CASE(
    "fixture: starts a private server quickly, with a user and a database on both transports") {
  co::mysql::library_init();
  co::mysql::thread_init();
  std::string dir;
  pid_t pid = -1;
  {
    cofcgi_test::MariadbServer s;
    dir = s.dir();
    const auto t0 = std::chrono::steady_clock::now();
    s.start();
    const auto total = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    std::printf(
        "mariadb fixture: bootstrap %lld ms, server start %lld ms, first start() total %lld ms\n",
        static_cast<long long>(s.bootstrap_time().count()),
        static_cast<long long>(s.last_start_time().count()), static_cast<long long>(total.count()));
    CHECK(s.running());
    pid = s.pid();
    CHECK(alive(pid));
    CHECK(s.port() > 0);
    CHECK(s.last_start_time() < std::chrono::seconds(10));
    MESSAGE("bootstrap ", s.bootstrap_time().count(), " ms, start ", s.last_start_time().count(),
            " ms");

    for (Transport t : {Transport::unix_default_host, Transport::unix_localhost, Transport::tcp}) {
      const std::string transport = name(t);
      CAPTURE(transport);
      MysqlPtr m = connect(t, {}, s);
      CHECK(scalar(m.get(), "SELECT DATABASE()") == s.database());
      CHECK(scalar(m.get(), "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)") == s.user());
      const std::string info = mysql_get_host_info(m.get());
      CHECK(info.find(t == Transport::tcp ? "TCP/IP" : "socket") != std::string::npos);
    }
    // A wrong password is refused (the grant tables are in force).
    {
      MYSQL* m = mysql_init(nullptr);
      CHECK(mysql_real_connect(m, "127.0.0.1", s.user().c_str(), "wrong", nullptr, s.port(),
                               nullptr, 0) == nullptr);
      CHECK(mysql_errno(m) == 1045);
      mysql_close(m);
    }

    // Data survives a clean restart and a crash; socket and port stay.
    const std::string sock = s.socket_path();
    const auto port = s.port();
    {
      MysqlPtr m = connect(Transport::tcp, {}, s);
      co::mysql::execute(m.get(), "CREATE TABLE t (v INT) ENGINE=InnoDB");
      co::mysql::execute(m.get(), "INSERT INTO t VALUES (1), (2), (3)");
    }
    s.restart();
    CHECK(s.running());
    CHECK(s.pid() != pid);
    CHECK_FALSE(alive(pid));
    CHECK(s.socket_path() == sock);
    CHECK(s.port() == port);
    MESSAGE("restart: start ", s.last_start_time().count(), " ms");
    {
      MysqlPtr m = connect(Transport::unix_localhost, {}, s);
      CHECK(scalar(m.get(), "SELECT SUM(v) FROM t") == "6");
      co::mysql::execute(m.get(), "INSERT INTO t VALUES (4)");
    }
    const pid_t before_kill = s.pid();
    s.kill();
    CHECK_FALSE(s.running());
    CHECK_FALSE(alive(before_kill));
    {
      MYSQL* m = mysql_init(nullptr);
      CHECK(mysql_real_connect(m, "127.0.0.1", s.user().c_str(), s.password().c_str(), nullptr,
                               port, nullptr, 0) == nullptr);
      mysql_close(m);
    }
    s.start();
    MESSAGE("start after SIGKILL (crash recovery): ", s.last_start_time().count(), " ms");
    {
      MysqlPtr m = connect(Transport::tcp, {}, s);
      CHECK(scalar(m.get(), "SELECT SUM(v) FROM t") == "10");  // committed before the crash
    }
    pid = s.pid();
  }
  // The destructor killed the server and removed its directory.
  CHECK_FALSE(alive(pid));
  struct stat st;
  CHECK(::stat(dir.c_str(), &st) != 0);
}

TEST_CASE("fixture: the server dies with the process that started it") {
  // A child process starts a server and is SIGKILLed (as a CTest timeout would): no
  // destructor, no atexit, yet the server goes (PR_SET_PDEATHSIG) and the next fixture
  // removes the orphaned directory.
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipefd[0]);
    try {
      cofcgi_test::MariadbServer s;
      s.start();
      char buf[512];
      const int n =
          std::snprintf(buf, sizeof buf, "%d %s\n", static_cast<int>(s.pid()), s.dir().c_str());
      (void)!::write(pipefd[1], buf, static_cast<size_t>(n));
      ::pause();
    } catch (...) {
    }
    ::_exit(1);
  }
  ::close(pipefd[1]);
  char buf[512] = {};
  std::size_t got = 0;
  while (got < sizeof buf - 1) {
    const ssize_t n = ::read(pipefd[0], buf + got, sizeof buf - 1 - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
    if (buf[got - 1] == '\n') break;
  }
  ::close(pipefd[0]);
  int server_pid = 0;
  char dir[400] = {};
  REQUIRE(std::sscanf(buf, "%d %399s", &server_pid, dir) == 2);
  CHECK(alive(server_pid));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // The server is re-parented and SIGKILLed by the kernel; give it a moment to go.
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = !alive(server_pid) || [&] {
      char path[64];
      std::snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
      FILE* f = std::fopen(path, "r");
      if (!f) return true;
      char state = 0;
      const int r = std::fscanf(f, "%*d %*s %c", &state);
      std::fclose(f);
      return r == 1 && state == 'Z';
    }();
    if (!gone) ::usleep(10000);
  }
  CHECK(gone);
  struct stat st;
  CHECK(::stat(dir, &st) == 0);  // left behind...
  { cofcgi_test::MariadbServer next; }
  // ...and removed by the next fixture. Another test binary running at the same time (ctest
  // -j) may be sweeping it too, and still be deleting its 15 MB datadir when ours returns:
  // wait for the directory to go rather than assume ours was the sweep that finished it.
  bool removed = false;
  for (int i = 0; i < 1000 && !removed; ++i) {
    removed = ::stat(dir, &st) != 0;
    if (!removed) ::usleep(10000);
  }
  CHECK(removed);
}
