// Reload and upgrade (cgi/src/reload.cpp, supervisor.cpp): SIGHUP starts the program again
// from its file with the listening socket; the old workers hand over once the new ones serve.
// Through nginx with keepalive upstream connections under wrk: no failed request. A broken
// config file: the new master exits, the old workers keep serving. A storm of reloads. A new
// binary put in place of the old one is what serves after the reload.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "nginx_server.h"
#include "ops_test_util.h"

namespace {

using namespace cgi_test;
using namespace ops_test;
using Clock = std::chrono::steady_clock;

// Masters started by a reload are children of the master they replace, and outlive it: the
// test adopts them (a child subreaper) and stops the last one by its pid file.
struct ReloadedApp {
  TempDir dir;
  std::string log = dir.path() + "/server.log";
  std::string pid_file = dir.path() + "/app.pid";
  App app;

  void start(const std::string& exe, std::vector<std::string> args) {
    (void)::prctl(PR_SET_CHILD_SUBREAPER, 1);
    args.insert(args.end(), {"--pid-file", pid_file});
    app = start_app(exe, "127.0.0.1:0", args, log);
    REQUIRE(wait_master(app.child->pid(), 20s));
  }
  // wait_master: the pid file names `pid` (it serves with all its workers).
  bool wait_master(pid_t pid, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (read_pid_file(pid_file) != pid) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
  // reload: SIGHUP to the current master; returns the new master's pid once it serves, -1
  // when the pid file did not change within the timeout.
  pid_t reload(std::chrono::milliseconds timeout = 20s) const {
    const pid_t old = read_pid_file(pid_file);
    ::kill(old, SIGHUP);
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const pid_t now = read_pid_file(pid_file);
      if (now > 0 && now != old) return now;
      if (Clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(10ms);
    }
  }
  ~ReloadedApp() {
    const pid_t last = read_pid_file(pid_file);
    if (last > 0 && last != app.child->pid()) {
      ::kill(last, SIGTERM);
      if (!wait_gone(last, 15s)) ::kill(last, SIGKILL);
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }
};

bool have_wrk() { return ::access("/usr/bin/wrk", X_OK) == 0; }

TEST_CASE("reloads under wrk through nginx (keepalive upstream): no request fails") {
  if (!have_wrk()) {
    MESSAGE("wrk not installed (scripts/lib/apt-packages.txt): skipped");
    return;
  }
  ReloadedApp a;
  a.start(COFCGI_TEST_SERVER_EXE, {"--workers", "2", "--threads", "2"});
  cofcgi_test::NginxServerOptions o;
  o.upstream = a.app.address;
  o.keepalive = 32;
  cofcgi_test::NginxServer nginx(o);
  nginx.start();

  std::vector<pid_t> masters = {a.app.child->pid()};
  std::atomic<bool> wrk_done{false};
  WrkResult result;
  std::thread load([&] {
    result = run_wrk(nginx.url("/pid"), 6, 32);
    wrk_done = true;
  });
  std::this_thread::sleep_for(1000ms);
  for (int i = 0; i < 3 && !wrk_done; ++i) {
    const pid_t next = a.reload();
    REQUIRE_MESSAGE(next > 0, read_file(a.log));
    masters.push_back(next);
    std::this_thread::sleep_for(1200ms);
  }
  load.join();
  MESSAGE("wrk, 32 connections through nginx, 3 reloads: "
          << result.requests << " requests, " << result.non_2xx << " non-2xx, "
          << result.socket_errors << " socket errors");
  CHECK_MESSAGE(result.requests > 1000, result.out);
  CHECK_MESSAGE(result.non_2xx == 0, result.out << nginx.error_log_tail());
  CHECK_MESSAGE(result.socket_errors == 0, result.out);
  // nginx hides a connection closed under a request it just wrote by retrying it: its error
  // log must not show one (each would count against the backend's max_fails).
  // ([info] lines about wrk's own connections closing at its end are not failures.)
  std::istringstream log(read_file(nginx.error_log_path()));
  std::string line, failures;
  while (std::getline(log, line)) {
    const bool serious =
        line.find("[error]") != std::string::npos || line.find("[warn]") != std::string::npos;
    if (serious && line.find("upstream") != std::string::npos) failures += line + "\n";
  }
  CHECK_MESSAGE(failures.empty(), failures);
  // Every old master retired (it exits once its workers handed over); the last one serves.
  for (std::size_t i = 0; i + 1 < masters.size(); ++i) CHECK(wait_gone(masters[i], 15s));
  CHECK(pid_served(fetch(a.app.address, "/pid")) > 0);
  CHECK(count_in_log(a.log, "reload: the new master") == 3);
}

TEST_CASE("a reload storm (10 SIGHUPs in a second): one master left, no failed request") {
  ReloadedApp a;
  a.start(COFCGI_TEST_SERVER_EXE, {"--workers", "2"});
  std::atomic<bool> stop{false};
  std::atomic<long long> ok{0}, failed{0};
  std::thread client([&] {
    while (!stop) {
      if (pid_served(fetch(a.app.address, "/pid")) > 0) {
        ++ok;
      } else {
        ++failed;
      }
    }
  });
  // Three at once (the second and third find a reload in progress), then one every 100 ms.
  for (int i = 0; i < 10; ++i) {
    ::kill(read_pid_file(a.pid_file), SIGHUP);
    std::this_thread::sleep_for(i < 2 ? 1ms : 100ms);
  }
  // Quiet again: the pid file settles on one live master whose workers serve.
  pid_t last = -1;
  for (int i = 0; i < 100; ++i) {
    const pid_t now = read_pid_file(a.pid_file);
    if (now == last) break;
    last = now;
    std::this_thread::sleep_for(500ms);
  }
  std::this_thread::sleep_for(1500ms);  // old masters' hand-over and exit
  stop = true;
  client.join();
  MESSAGE("reload storm: " << ok.load() << " requests answered, " << failed.load() << " failed, "
                           << count_in_log(a.log, "reload: the new master") << " reloads done, "
                           << count_in_log(a.log, "reload ignored") << " ignored");
  CHECK(failed == 0);
  CHECK(ok > 0);
  CHECK_FALSE(process_gone(last));
  CHECK(count_in_log(a.log, "reload: the new master") >= 1);
  if (last != a.app.child->pid()) CHECK(wait_gone(a.app.child->pid(), 15s));
  CHECK(pid_served(fetch(a.app.address, "/pid")) > 0);
}

TEST_CASE("a reload with a broken config file: the old workers keep serving, the error is logged") {
  ReloadedApp a;
  const std::string config = a.dir.path() + "/app.toml";
  std::ofstream(config) << "workers = 2\nthreads = 1\n";
  a.start(COFCGI_TEST_SERVER_EXE, {"--config", config});
  const std::vector<pid_t> workers = wait_for_workers(a.log, 2, 10s);
  REQUIRE(workers.size() == 2);

  std::ofstream(config) << "workers = 2\nthreads = \"many\"\n";  // not a number
  const std::size_t mark = file_size(a.log);
  ::kill(a.app.child->pid(), SIGHUP);
  REQUIRE_MESSAGE(
      wait_for_log(a.log, "reload failed: the new master exited with status", 20s, mark),
      read_file(a.log));
  CHECK_MESSAGE(count_in_log(a.log, "threads") >= 1, read_file(a.log));  // its error names it
  CHECK(read_pid_file(a.pid_file) == a.app.child->pid());
  for (pid_t w : workers) CHECK_FALSE(process_gone(w));
  for (int i = 0; i < 10; ++i) {
    const pid_t pid = pid_served(fetch(a.app.address, "/pid"));
    CHECK((pid == workers[0] || pid == workers[1]));
  }
  CHECK(serving_workers(a.log, mark).empty());  // nothing restarted

  std::ofstream(config) << "workers = 2\nthreads = 2\n";  // fixed: the next reload works
  const pid_t next = a.reload();
  CHECK_MESSAGE(next > 0, read_file(a.log));
  for (pid_t w : workers) CHECK(wait_gone(w, 15s));
}

TEST_CASE("upgrade: a new binary put in place of the old one serves after the reload") {
  ReloadedApp a;
  const std::string exe = a.dir.path() + "/app";
  std::filesystem::copy_file(COFCGI_TEST_SERVER_EXE, exe);
  a.start(exe, {"--workers", "1"});
  const std::vector<pid_t> old_workers = wait_for_workers(a.log, 1, 10s);
  REQUIRE(old_workers.size() == 1);
  CHECK(fetch(a.app.address, "/x") == std::optional<std::string>("ok /x\n"));
  // The install step of a deploy: the new build goes next to the old one and is renamed
  // over it (the running program keeps its now deleted inode).
  std::filesystem::copy_file(COFCGI_HELLO_EXE, exe + ".new");
  std::filesystem::rename(exe + ".new", exe);
  const pid_t next = a.reload();
  REQUIRE_MESSAGE(next > 0, read_file(a.log));
  // Until the old worker has handed over it may still take a new connection (both listen on
  // the one socket): ask once it is gone (an ASan run asked too early and got the old answer).
  REQUIRE(wait_gone(old_workers[0], 15s));
  const std::optional<std::string> body = fetch(a.app.address, "/x");
  REQUIRE(body.has_value());
  CHECK(body->find("ok /x") == std::string::npos);  // the test server's answer no longer
  MESSAGE("after the upgrade /x answers: " << *body);
}

}  // namespace
