// Faults around the supervisor's socket: a unix socket path a live server holds (refused, the
// live one keeps serving) or a dead one left (taken over); the worker out of fds while
// connections keep coming (it serves those it has, says so once, and recovers).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "ops_test_util.h"

namespace {

using namespace cgi_test;
using namespace ops_test;

TEST_CASE("a unix socket path in use by a live server is refused; a stale one is taken over") {
  TempDir dir;
  const std::string sock = dir.path() + "/app.sock";
  App first = start_app(COFCGI_TEST_SERVER_EXE, "unix:" + sock, {"--workers", "2"},
                        dir.path() + "/first.log");
  REQUIRE(wait_for_workers(dir.path() + "/first.log", 2, 20s).size() == 2);

  // A second supervisor on the same path: refused before it forks anything.
  const RunResult second =
      run_program({COFCGI_TEST_SERVER_EXE, "--listen", "unix:" + sock, "--workers", "2"}, "", 20s);
  CHECK(WIFEXITED(second.status));
  CHECK(WEXITSTATUS(second.status) != 0);
  CHECK_MESSAGE(second.err.find("another process is serving on " + sock) != std::string::npos,
                second.err);
  CHECK(pid_served(fetch("unix:" + sock, "/pid")) > 0);  // the first one still serves

  // Every process of the first SIGKILLed: the socket file stays, nobody accepts on it.
  ::kill(-first.child->pid(), SIGKILL);
  REQUIRE(first.child->wait_exit(10s).has_value());
  for (pid_t w : serving_workers(dir.path() + "/first.log")) CHECK(wait_gone(w, 10s));
  CHECK(connect_to("unix:" + sock) < 0);
  App third = start_app(COFCGI_TEST_SERVER_EXE, "unix:" + sock, {"--workers", "2"},
                        dir.path() + "/third.log");
  CHECK(pid_served(fetch("unix:" + sock, "/pid")) > 0);
}

TEST_CASE("a worker out of fds keeps serving its connections, and accepts again once some close") {
  if (::access("/usr/bin/prlimit", X_OK) != 0) {
    MESSAGE("prlimit (util-linux) not installed: skipped");
    return;
  }
  TempDir dir;
  const std::string log = dir.path() + "/server.log";
  // 64 fds for the supervisor and its worker: a few dozen connections exhaust the worker's.
  Child app({"/usr/bin/prlimit", "--nofile=64:64", COFCGI_TEST_SERVER_EXE, "--listen",
             "127.0.0.1:0", "--workers", "1"},
            log);
  REQUIRE(wait_for_log(log, "with 1 workers", 20s));
  const std::string marker = "serving FastCGI on ";
  const std::string text = read_file(log);
  const std::size_t at = text.find(marker) + marker.size();
  const std::string address = text.substr(at, text.find(" with ", at) - at);

  FcgiConn kept(address);
  REQUIRE(kept.request(1, cgi_params("GET", "/first")).complete);
  std::vector<int> flood;
  for (int i = 0; i < 100; ++i) {
    const int fd = connect_to(address);  // the backlog takes what the worker cannot accept
    if (fd >= 0) flood.push_back(fd);
  }
  CHECK(wait_for_log(log, "Too many open files", 10s));
  // The connection it had is served all along.
  for (int i = 0; i < 5; ++i) {
    const FcgiReply r = kept.request(1, cgi_params("GET", "/kept"));
    CHECK(r.complete);
    CHECK(parse_cgi_response(r.out).body == "ok /kept\n");
  }
  CHECK(count_in_log(log, "Too many open files") == 1);  // said once, not per retry
  for (int fd : flood) ::close(fd);
  // Recovered: the flood's connections go (the worker reads their EOF), new ones are served.
  std::optional<std::string> body;
  for (int i = 0; i < 50 && !body; ++i) {
    body = fetch(address, "/again", 5s);
    if (!body) std::this_thread::sleep_for(100ms);
  }
  CHECK(body == std::optional<std::string>("ok /again\n"));
  CHECK_FALSE(app.wait_exit(0ms).has_value());
  CHECK(count_in_log(log, "killed by signal") == 0);
}

}  // namespace

namespace {

using namespace cgi_test;
using namespace ops_test;

TEST_CASE("--user: workers drop to it; an unknown user stops the start before any fork") {
  const RunResult bad = run_program({COFCGI_TEST_SERVER_EXE, "--listen", "127.0.0.1:0", "--workers",
                                     "2", "--user", "no-such-user-cofcgi"},
                                    "", 20s);
  CHECK(WIFEXITED(bad.status));
  CHECK(WEXITSTATUS(bad.status) != 0);
  CHECK_MESSAGE(bad.err.find("no user named 'no-such-user-cofcgi'") != std::string::npos, bad.err);
  CHECK(bad.err.find("worker") == std::string::npos);  // nothing was forked

  if (::geteuid() != 0) {
    MESSAGE("not root: dropping privileges not checked");
    return;
  }
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);  // the log file is opened by the supervisor (root)
  App app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0",
                      {"--workers", "1", "--user", "nobody", "--group", "nogroup"},
                      dir.path() + "/server.log");
  const pid_t worker = pid_served(fetch(app.address, "/pid"));
  REQUIRE(worker > 0);
  const std::string status = read_file("/proc/" + std::to_string(worker) + "/status");
  CHECK_MESSAGE(status.find("\nUid:\t65534\t65534\t65534\t65534") != std::string::npos, status);
  CHECK_MESSAGE(status.find("\nGid:\t65534\t65534\t65534\t65534") != std::string::npos, status);
  const std::string own = read_file("/proc/" + std::to_string(app.child->pid()) + "/status");
  CHECK(own.find("\nUid:\t0\t") != std::string::npos);  // the supervisor stays root
}

}  // namespace
