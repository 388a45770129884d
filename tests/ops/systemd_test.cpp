// systemd integration (cgi/src/systemd_notify.cpp, inherited_sockets.cpp): sd_notify's
// READY/RELOADING/STOPPING/STATUS and WATCHDOG, read from a NOTIFY_SOCKET datagram socket the
// test binds; socket activation by systemd-socket-activate (LISTEN_FDS, LISTEN_FDNAMES); and
// a listening fd 0 (spawn-fcgi, cgi-fcgi -start) under the supervisor.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "fixture_util.h"
#include "ops_test_util.h"

namespace {

using namespace cgi_test;
using namespace ops_test;
using Clock = std::chrono::steady_clock;

// NotifySocket: what systemd listens on for sd_notify, bound in the test's temp dir; the
// environment variable is set while it lives (children started meanwhile inherit it).
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }
  // next: the next datagram that contains `text`, within the timeout (others are dropped).
  std::optional<std::string> next(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string message(buf, static_cast<std::size_t>(n));
      if (message.find(text) != std::string::npos) return message;
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST_CASE("sd_notify: READY with MAINPID and STATUS, RELOADING, the new master's READY, STOPPING") {
  (void)::prctl(PR_SET_CHILD_SUBREAPER, 1);
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify.sock");
  const std::string log = dir.path() + "/server.log";
  const std::string pid_file = dir.path() + "/app.pid";
  App app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0",
                      {"--workers", "2", "--pid-file", pid_file}, log);
  const auto ready = notify.next("READY=1", 10s);
  REQUIRE(ready.has_value());
  CHECK(ready->find("MAINPID=" + std::to_string(app.child->pid())) != std::string::npos);
  CHECK(ready->find("STATUS=2 workers serving") != std::string::npos);

  app.child->signal(SIGHUP);
  CHECK(notify.next("RELOADING=1", 10s).has_value());
  const auto again = notify.next("READY=1", 20s);
  REQUIRE(again.has_value());
  const pid_t next = read_pid_file(pid_file);
  CHECK(next != app.child->pid());
  CHECK_MESSAGE(again->find("MAINPID=" + std::to_string(next)) != std::string::npos, *again);

  ::kill(next, SIGTERM);
  CHECK(notify.next("STOPPING=1", 10s).has_value());
  CHECK(wait_gone(next, 15s));
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

TEST_CASE("the watchdog: WATCHDOG=1 at half of WATCHDOG_USEC") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify.sock");
  ::setenv("WATCHDOG_USEC", "400000", 1);
  App app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0", {"--workers", "1"},
                      dir.path() + "/server.log");
  ::unsetenv("WATCHDOG_USEC");
  REQUIRE(notify.next("READY=1", 10s).has_value());
  const auto t0 = Clock::now();
  int pings = 0;
  while (pings < 4 && notify.next("WATCHDOG=1", 2s)) ++pings;
  const long long ms = ms_since(t0);
  CHECK(pings == 4);
  MESSAGE("4 watchdog pings in " << ms << " ms (WATCHDOG_USEC=400000: one per 200 ms)");
}

TEST_CASE("socket activation: systemd-socket-activate passes the socket (LISTEN_FDS, a name)") {
  if (::access("/usr/bin/systemd-socket-activate", X_OK) != 0) {
    MESSAGE("systemd-socket-activate not installed (package systemd): skipped");
    return;
  }
  TempDir dir;
  const std::string log = dir.path() + "/server.log";
  const std::string sock = dir.path() + "/app.sock";
  // It binds, waits for the first connection, then execs the app in its place.
  Child activator({"/usr/bin/systemd-socket-activate", "-l", sock, "--fdname=cofcgi-app",
                   COFCGI_TEST_SERVER_EXE, "--workers", "2"},
                  log);
  const auto deadline = Clock::now() + 10s;
  struct stat st;
  while (::stat(sock.c_str(), &st) != 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  const std::optional<std::string> body = fetch("unix:" + sock, "/pid", 20s);
  REQUIRE_MESSAGE(body.has_value(), read_file(log));
  CHECK(pid_served(body) != activator.pid());  // a worker answered
  CHECK_MESSAGE(count_in_log(log, "listening socket from systemd (cofcgi-app)") == 1,
                read_file(log));
  activator.signal(SIGTERM);
  const auto status = activator.wait_exit(20s);
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
}

TEST_CASE("a listening fd 0 (spawn-fcgi, cgi-fcgi -start) is served by the workers") {
  (void)::prctl(PR_SET_CHILD_SUBREAPER, 1);
  TempDir dir;
  const std::string log = dir.path() + "/server.log";
  const std::string sock = dir.path() + "/app.sock";
  const std::string pid_file = dir.path() + "/app.pid";
  // cgi-fcgi runs a program without arguments: a script adds them.
  const std::string script = dir.path() + "/app.sh";
  std::ofstream(script) << "#!/bin/sh\nexec " << COFCGI_TEST_SERVER_EXE
                        << " --workers 2 --pid-file " << pid_file << " 2>>" << log << "\n";
  ::chmod(script.c_str(), 0755);
  const RunResult started =
      run_program({COFCGI_CGI_FCGI_EXE, "-start", "-connect", sock, script}, "", 10s);
  REQUIRE_MESSAGE(started.status == 0, started.err);
  const auto deadline = Clock::now() + 10s;
  while (read_pid_file(pid_file) <= 0 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  const pid_t master = read_pid_file(pid_file);
  REQUIRE_MESSAGE(master > 0, read_file(log));
  const pid_t served = pid_served(fetch("unix:" + sock, "/pid"));
  CHECK(served > 0);
  CHECK(served != master);
  CHECK(count_in_log(log, "2 workers on fd:0") == 1);
  ::kill(master, SIGTERM);
  CHECK(wait_gone(master, 15s));
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

}  // namespace

namespace {

TEST_CASE("deploy/systemd's units pass systemd-analyze verify") {
  if (::access("/usr/bin/systemd-analyze", X_OK) != 0) {
    MESSAGE("systemd-analyze not installed (package systemd): skipped");
    return;
  }
  cgi_test::TempDir dir;
  // ExecStart names the app's install path; verify wants a program that exists.
  std::string service =
      cgi_test::read_file(std::string(COFCGI_DEPLOY_DIR) + "/systemd/cofcgi-app.service");
  const std::string placeholder = "/usr/local/bin/cofcgi-app";
  REQUIRE(service.find(placeholder) != std::string::npos);
  service.replace(service.find(placeholder), placeholder.size(), COFCGI_TEST_SERVER_EXE);
  std::ofstream(dir.path() + "/cofcgi-app.service") << service;
  std::ofstream(dir.path() + "/cofcgi-app.socket")
      << cgi_test::read_file(std::string(COFCGI_DEPLOY_DIR) + "/systemd/cofcgi-app.socket");
  const cgi_test::RunResult r =
      cgi_test::run_program({"/usr/bin/systemd-analyze", "verify",
                             dir.path() + "/cofcgi-app.service", dir.path() + "/cofcgi-app.socket"},
                            "", std::chrono::seconds(60));
  CHECK_MESSAGE(r.status == 0, r.out << r.err);
  CHECK_MESSAGE(r.err.empty(), r.err);  // warnings too
}

}  // namespace
