// The supervisor and its workers (cgi/src/supervisor.cpp): the test server
// (tests/cgi/test_server.cpp) run with --workers N. A worker that crashes (abort) or is
// SIGKILLed costs only its own requests in flight and is replaced; too many crashes stop the
// service; a SIGKILLed supervisor leaves no worker serving; SIGTERM stops all of it.
#include <doctest/doctest.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "ops_test_util.h"

namespace {

using namespace cgi_test;
using namespace ops_test;
using Clock = std::chrono::steady_clock;

struct Supervised {
  TempDir dir;
  std::string log;
  App app;
  std::vector<pid_t> workers;
};

// start_supervised runs the test server with `workers` workers and waits until all serve.
void start_supervised(Supervised& s, int workers, std::vector<std::string> args = {}) {
  s.log = s.dir.path() + "/server.log";
  args.insert(args.end(), {"--workers", std::to_string(workers)});
  s.app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0", args, s.log);
  s.workers = wait_for_workers(s.log, static_cast<std::size_t>(workers), 20s);
  REQUIRE_MESSAGE(s.workers.size() == static_cast<std::size_t>(workers), read_file(s.log));
}

TEST_CASE("workers serve; SIGTERM to the supervisor stops them all and exits 0") {
  Supervised s;
  start_supervised(s, 2);
  std::set<pid_t> seen;
  for (int i = 0; i < 40; ++i) {
    const pid_t pid = pid_served(fetch(s.app.address, "/pid"));
    REQUIRE(pid > 0);
    seen.insert(pid);
  }
  for (pid_t pid : seen) {
    CHECK_MESSAGE(std::count(s.workers.begin(), s.workers.end(), pid) == 1,
                  "served by pid " << pid << ", not a worker");
    CHECK(pid != s.app.child->pid());
  }
  s.app.child->signal(SIGTERM);
  const auto status = s.app.child->wait_exit(20s);
  REQUIRE(status.has_value());
  const bool clean = WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  CHECK_MESSAGE(clean, read_file(s.log));
  for (pid_t pid : s.workers) CHECK(wait_gone(pid, 5s));
  CHECK(connect_to(s.app.address) < 0);
}

TEST_CASE("a worker that crashes mid-request costs only its requests and is replaced") {
  Supervised s;
  start_supervised(s, 2);
  // A slow request held by each worker: kept connections (FCGI_KEEP_CONN) that learned
  // their worker's pid first.
  std::vector<std::unique_ptr<FcgiConn>> conns;
  std::map<pid_t, FcgiConn*> by_worker;
  for (int i = 0; i < 200 && by_worker.size() < 2; ++i) {
    auto conn = std::make_unique<FcgiConn>(s.app.address);
    const FcgiReply r = conn->request(1, cgi_params("GET", "/pid"));
    REQUIRE(r.complete);
    const pid_t pid = pid_served(parse_cgi_response(r.out).body);
    if (by_worker.count(pid) == 0) {
      by_worker[pid] = conn.get();
      conns.push_back(std::move(conn));
    }
  }
  REQUIRE_MESSAGE(by_worker.size() == 2, "40 connections all went to one worker");
  const pid_t victim = by_worker.begin()->first;
  const pid_t survivor = std::next(by_worker.begin())->first;
  by_worker[victim]->send(whole_request(2, cgi_params("GET", "/slow?ms=1500")));
  by_worker[survivor]->send(whole_request(2, cgi_params("GET", "/slow?ms=1500")));
  std::this_thread::sleep_for(300ms);  // both handlers sleep now

  const std::size_t log_mark = file_size(s.log);
  const auto killed_at = Clock::now();
  REQUIRE(::kill(victim, SIGKILL) == 0);
  // Replaced and logged with the signal.
  const std::vector<pid_t> fresh = wait_for_workers(s.log, 1, 10s, log_mark);
  const long long replaced_ms = ms_since(killed_at);
  REQUIRE_MESSAGE(fresh.size() == 1, read_file(s.log));
  // The victim's request is lost (no END_REQUEST); the survivor's completes.
  const FcgiReply lost = by_worker[victim]->read_reply(2, 5s);
  CHECK_FALSE(lost.complete);
  const FcgiReply kept = by_worker[survivor]->read_reply(2, 5s);
  CHECK(kept.complete);
  CHECK(parse_cgi_response(kept.out).body == "slow done 1500\n");
  CHECK(fresh[0] != victim);
  CHECK(count_in_log(s.log, "(pid " + std::to_string(victim) + ") killed by signal 9") == 1);
  // What it was serving: the supervisor reads the dead worker's slot (worker_slots.h).
  CHECK_MESSAGE(count_in_log(s.log, "1 request in flight lost") == 1, read_file(s.log));
  MESSAGE("SIGKILLed worker replaced (its successor logged serving) " << replaced_ms
                                                                      << " ms after the kill");

  // abort() in a handler: the same, logged with SIGABRT.
  const std::size_t mark2 = file_size(s.log);
  CHECK_FALSE(fetch(s.app.address, "/abort").has_value());
  CHECK(wait_for_log(s.log, "killed by signal 6", 10s, mark2));
  CHECK_MESSAGE(count_in_log(s.log, "1 request in flight lost") == 2, read_file(s.log));
  CHECK(wait_for_workers(s.log, 1, 10s, mark2).size() == 1);
  for (int i = 0; i < 20; ++i) CHECK(pid_served(fetch(s.app.address, "/pid")) > 0);
  CHECK(s.app.child->wait_exit(0ms) == std::nullopt);  // the supervisor stays
}

TEST_CASE("crash to a replacement serving, with one worker: time until a request succeeds") {
  Supervised s;
  start_supervised(s, 1);
  const pid_t worker = pid_served(fetch(s.app.address, "/pid"));
  REQUIRE(worker > 0);
  const auto killed_at = Clock::now();
  REQUIRE(::kill(worker, SIGKILL) == 0);
  // The listening socket stays open in the supervisor: connections queue meanwhile, and
  // the first request after the kill is answered by the replacement.
  const std::optional<std::string> body = fetch(s.app.address, "/pid", 20s);
  const long long ms = ms_since(killed_at);
  REQUIRE(body.has_value());
  CHECK(pid_served(body) != worker);
  MESSAGE("one worker SIGKILLed: the next request was answered by its replacement " << ms
                                                                                    << " ms later");
}

TEST_CASE("a worker SIGKILLed under load: only the requests it had in flight fail") {
  Supervised s;
  start_supervised(s, 2);
  constexpr int kClients = 16;  // each has at most one request in flight
  std::atomic<bool> stop{false};
  std::atomic<long long> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      while (!stop) {
        if (fetch(s.app.address, "/slow?ms=20")) {
          ++ok;
        } else {
          ++failed;
        }
      }
    });
  }
  std::this_thread::sleep_for(500ms);
  const std::size_t mark = file_size(s.log);
  // A worker that is accepting now (with accept on one shared socket, one may take most).
  const pid_t victim = pid_served(fetch(s.app.address, "/pid"));
  REQUIRE(victim > 0);
  REQUIRE(::kill(victim, SIGKILL) == 0);
  REQUIRE(wait_for_workers(s.log, 1, 10s, mark).size() == 1);
  std::this_thread::sleep_for(500ms);
  stop = true;
  for (std::thread& t : clients) t.join();
  MESSAGE("16 clients on 2 workers, one SIGKILLed: "
          << failed.load() << " of " << ok.load() + failed.load() << " requests failed");
  CHECK(failed.load() <= kClients);
  CHECK(ok.load() > 100);
}

TEST_CASE("--max-requests: a worker that served its share is replaced, no request lost") {
  Supervised s;
  start_supervised(s, 1, {"--max-requests", "50"});
  std::set<pid_t> served_by;
  int failed = 0;
  for (int i = 0; i < 160; ++i) {
    const pid_t pid = pid_served(fetch(s.app.address, "/pid", 10s));
    if (pid > 0) {
      served_by.insert(pid);
    } else {
      ++failed;
    }
  }
  CHECK(failed == 0);
  CHECK_MESSAGE(served_by.size() >= 3, read_file(s.log));  // 160 requests, 50 per worker
  CHECK(count_in_log(s.log, "requests served (max_requests)") >= 2);
  // Exactly 50 each: 160 requests make three replacements.
  CHECK(count_in_log(s.log, "exited with status 0; starting another") == 3);
  CHECK(count_in_log(s.log, "killed by signal") == 0);
}

TEST_CASE("too many crashes within the interval stop the supervisor with status 1") {
  Supervised s;
  start_supervised(s, 1,
                   {"--emergency-restart-threshold", "3", "--emergency-restart-interval", "30000"});
  for (int i = 0; i < 3; ++i) {
    const std::size_t mark = file_size(s.log);
    CHECK_FALSE(fetch(s.app.address, "/abort").has_value());
    REQUIRE(wait_for_log(s.log, "killed by signal 6", 10s, mark));
    if (i < 2) REQUIRE_MESSAGE(wait_for_workers(s.log, 1, 10s, mark).size() == 1, read_file(s.log));
  }
  const auto status = s.app.child->wait_exit(20s);
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 1);
  CHECK(count_in_log(s.log, "emergency_restart_threshold") == 1);
}

TEST_CASE("a SIGKILLed supervisor: its workers finish what they serve and exit") {
  Supervised s;
  start_supervised(s, 2);
  FcgiConn busy(s.app.address);
  busy.send(whole_request(1, cgi_params("GET", "/slow?ms=1000")));
  std::this_thread::sleep_for(200ms);
  s.app.child->signal(SIGKILL);
  const FcgiReply r = busy.read_reply(1, 10s);
  CHECK(r.complete);
  CHECK(parse_cgi_response(r.out).body == "slow done 1000\n");
  for (pid_t pid : s.workers) CHECK_MESSAGE(wait_gone(pid, 15s), "worker " << pid << " still runs");
  CHECK(count_in_log(s.log, "the supervisor is gone") >= 1);
  CHECK(connect_to(s.app.address) < 0);  // nobody serves on as an orphan
}

}  // namespace
