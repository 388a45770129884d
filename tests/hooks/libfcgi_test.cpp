// An existing libfcgi program, unchanged, runs as coroutines: several coroutines each run
// the ordinary FCGX_InitRequest / FCGX_Accept_r / handle / FCGX_Finish_r loop on ONE
// listening socket, in one thread; every handler sleeps 300 ms (usleep, as slow legacy
// code does). The real cgi-fcgi client (Debian's libfcgi-bin) sends 20 concurrent requests:
// all answers are right and arrive in about one handler's time, not 20 of them.
#include <doctest/doctest.h>
#include <fcgiapp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"

using hooks_test::Fd;
using hooks_test::seconds_since;

namespace {

constexpr useconds_t kHandlerPause = 300'000;

struct ServerStats {
  int served = 0;
  int in_handler = 0;
  int max_in_handler = 0;
  int wrong_thread = 0;
  std::set<int> servers_used;
  std::vector<int> accept_results;  // how each loop ended
};

// serve_loop is the textbook libfcgi multi-threaded worker loop, run here as a coroutine.
void serve_loop(int listen_fd, int server_id, ServerStats* stats, std::thread::id main_thread) {
  FCGX_Request req;
  if (FCGX_InitRequest(&req, listen_fd, 0) != 0) return;
  int rc;
  while ((rc = FCGX_Accept_r(&req)) >= 0) {
    if (std::this_thread::get_id() != main_thread) ++stats->wrong_thread;
    stats->max_in_handler = std::max(stats->max_in_handler, ++stats->in_handler);
    const char* query = FCGX_GetParam("QUERY_STRING", req.envp);
    const char* method = FCGX_GetParam("REQUEST_METHOD", req.envp);
    ::usleep(kHandlerPause);  // slow legacy handler
    FCGX_FPrintF(req.out, "Content-type: text/plain\r\n\r\nanswer %s %s by %d\n",
                 method ? method : "?", query ? query : "?", server_id);
    --stats->in_handler;
    ++stats->served;
    stats->servers_used.insert(server_id);
    FCGX_Finish_r(&req);
  }
  stats->accept_results.push_back(rc);
  FCGX_Free(&req, 1);
}

struct ClientRun {
  std::vector<std::string> outputs;
  std::vector<int> statuses;
  double seconds = 0;
};

// run_clients starts `count` cgi-fcgi processes at once (each its own request, n=i), then
// collects their outputs. Runs on a helper thread (no scheduler: plain blocking calls).
ClientRun run_clients(int count, const std::string& connect_to) {
  ClientRun run;
  const co::Deadline start = co::now_ns();
  std::vector<FILE*> procs;
  for (int i = 0; i < count; ++i) {
    const std::string cmd =
        "env -i REQUEST_METHOD=GET SCRIPT_NAME=/x QUERY_STRING=n=" + std::to_string(i) + " '" +
        COFCGI_CGI_FCGI + "' -bind -connect " + connect_to + " 2>&1";
    procs.push_back(::popen(cmd.c_str(), "r"));
  }
  for (FILE* p : procs) {
    std::string out;
    if (p != nullptr) {
      char buf[1024];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
      run.statuses.push_back(::pclose(p));
    } else {
      run.statuses.push_back(-1);
    }
    run.outputs.push_back(out);
  }
  run.seconds = seconds_since(start);
  return run;
}

// serve_and_drive runs `servers` worker coroutines on listen_fd in this thread, `clients`
// cgi-fcgi requests from a helper thread, then stops the workers by shutting the listener
// down (accept then fails with EINVAL, which ends FCGX_Accept_r's loop).
void serve_and_drive(int listen_fd, const std::string& connect_to, int servers, int clients,
                     ServerStats* stats, ClientRun* run) {
  const std::thread::id main_thread = std::this_thread::get_id();
  for (int k = 0; k < servers; ++k) {
    co::go([=] { serve_loop(listen_fd, k, stats, main_thread); });
  }
  const co::Executor executor = co::Executor::current();
  std::atomic<bool> stop_posted{false};
  std::thread driver([&] {
    *run = run_clients(clients, connect_to);
    executor.post([listen_fd] { ::shutdown(listen_fd, SHUT_RDWR); });
    stop_posted = true;
  });
  co::run();
  driver.join();
  CHECK(stop_posted);
}

void check_answers(const ClientRun& run, int clients) {
  REQUIRE(run.outputs.size() == static_cast<size_t>(clients));
  for (int i = 0; i < clients; ++i) {
    INFO("request " << i << " output: " << run.outputs[i]);
    CHECK(run.statuses[i] == 0);
    CHECK(run.outputs[i].find("Content-type: text/plain") != std::string::npos);
    CHECK(run.outputs[i].find("answer GET n=" + std::to_string(i) + " by ") != std::string::npos);
  }
}

}  // namespace

TEST_CASE("libfcgi: cgi-fcgi is installed") {
  // libfcgi-bin provides the client; scripts/test installs it. Missing means failing.
  REQUIRE_MESSAGE(::access(COFCGI_CGI_FCGI, X_OK) == 0,
                  "cgi-fcgi not found (" COFCGI_CGI_FCGI "): apt-get install libfcgi-bin");
}

TEST_CASE(
    "libfcgi: the FCGX_Accept_r loop as 24 coroutines serves 20 concurrent slow requests over "
    "TCP") {
  REQUIRE(::access(COFCGI_CGI_FCGI, X_OK) == 0);
  cofcgi_test::LeakCheck leaks;
  REQUIRE(FCGX_Init() == 0);
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port, 128);
  constexpr int kServers = 24;
  constexpr int kClients = 20;
  ServerStats stats;
  ClientRun run;
  const co::Deadline start = co::now_ns();
  serve_and_drive(listener.get(), "127.0.0.1:" + std::to_string(port), kServers, kClients, &stats,
                  &run);
  const double elapsed = seconds_since(start);
  check_answers(run, kClients);
  CHECK(stats.served == kClients);
  CHECK(stats.wrong_thread == 0);
  CHECK(stats.max_in_handler >= 10);  // handlers overlapped: all sleeping at once
  CHECK(stats.servers_used.size() >= 10);
  CHECK(stats.accept_results.size() == static_cast<size_t>(kServers));  // every loop ended
  CHECK(run.seconds <
        2.0 * hooks_test::kSlack);  // 20 x 0.3 s = 6 s if each request held the thread
  MESSAGE("20 cgi-fcgi requests (300 ms handlers): "
          << run.seconds << " s for the clients, " << elapsed << " s in all; up to "
          << stats.max_in_handler << " handlers at once");
}

TEST_CASE("libfcgi: the same on a unix socket opened by FCGX_OpenSocket") {
  REQUIRE(::access(COFCGI_CGI_FCGI, X_OK) == 0);
  cofcgi_test::LeakCheck leaks;
  REQUIRE(FCGX_Init() == 0);
  hooks_test::UnixPath path("libfcgi");
  Fd listener(FCGX_OpenSocket(path.c_str(), 64));
  REQUIRE(listener);
  constexpr int kServers = 12;
  constexpr int kClients = 10;
  ServerStats stats;
  ClientRun run;
  serve_and_drive(listener.get(), path.c_str(), kServers, kClients, &stats, &run);
  check_answers(run, kClients);
  CHECK(stats.served == kClients);
  CHECK(stats.max_in_handler >= 5);
  CHECK(stats.accept_results.size() == static_cast<size_t>(kServers));
  CHECK(run.seconds < 2.0 * hooks_test::kSlack);  // 3 s if serialized
}
