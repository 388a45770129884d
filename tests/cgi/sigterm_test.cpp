// Graceful shutdown (cgi/src/server.cpp): a child server (tests/cgi/test_server.cpp, whose
// /slow route sleeps) gets SIGTERM while a request is in flight. The request completes,
// idle connections close, new connections are refused from the moment the drain starts
// (not accepted into a backlog nobody serves), and the process exits 0.
#include <doctest/doctest.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "cgi_test_util.h"

namespace {

using namespace cgi_test;
using Clock = std::chrono::steady_clock;

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

struct Variant {
  const char* name;
  bool unix_socket;
  int threads;
  int signal;
};

TEST_CASE("SIGTERM drains: the request in flight completes, new connections are refused, exit 0") {
  for (const Variant v : {Variant{"tcp, 1 thread, SIGTERM", false, 1, SIGTERM},
                          Variant{"tcp, 2 threads, SIGTERM", false, 2, SIGTERM},
                          Variant{"unix, 2 threads, SIGTERM", true, 2, SIGTERM},
                          Variant{"tcp, 1 thread, SIGINT", false, 1, SIGINT}}) {
    const std::string variant = v.name;
    CAPTURE(variant);
    TempDir dir;
    const std::string sock = dir.path() + "/app.sock";
    App app = start_app(COFCGI_TEST_SERVER_EXE, v.unix_socket ? "unix:" + sock : "127.0.0.1:0",
                        {"--threads", std::to_string(v.threads)}, dir.path() + "/server.log");

    FcgiConn busy(app.address);
    busy.send(whole_request(1, cgi_params("GET", "/slow?ms=3000"), {}, true));
    FcgiConn silent(app.address);  // connected, never sends anything
    FcgiConn kept(app.address);    // served one request, kept open by FCGI_KEEP_CONN
    const FcgiReply first = kept.request(1, cgi_params("GET", "/first"));
    REQUIRE(first.complete);
    CHECK(parse_cgi_response(first.out).body == "ok /first\n");

    std::this_thread::sleep_for(300ms);  // the slow handler is sleeping now
    const auto t_signal = Clock::now();
    app.child->signal(v.signal);

    // From the moment the drain starts, connecting fails with ECONNREFUSED. (Until the
    // signal is handled a connect may still succeed; that is allowed, it is retried.)
    int refused_errno = 0;
    long long refused_after = -1;
    int accepted_after_signal = 0;
    while (ms_since(t_signal) < 3000) {
      const int fd = connect_to(app.address);
      if (fd < 0) {
        refused_errno = errno;
        refused_after = ms_since(t_signal);
        break;
      }
      ++accepted_after_signal;
      ::close(fd);
      std::this_thread::sleep_for(5ms);
    }
    CHECK_MESSAGE(refused_errno == ECONNREFUSED,
                  "connect after the signal: " << std::strerror(refused_errno));
    CHECK_MESSAGE(refused_after >= 0, "connections were still accepted 3 s after the signal");
    CHECK_MESSAGE(refused_after < 2000, "refused only " << refused_after << " ms after the signal");
    MESSAGE(variant << ": refused " << refused_after << " ms after the signal ("
                    << accepted_after_signal << " connects accepted before)");
    // ... and stays refused while the busy request finishes.
    for (int i = 0; i < 5; ++i) {
      const int fd = connect_to(app.address);
      CHECK(fd < 0);
      if (fd >= 0) ::close(fd);
      CHECK(errno == ECONNREFUSED);
    }

    // Idle connections are closed at once.
    CHECK(silent.wait_closed(3s));
    CHECK(kept.wait_closed(3s));

    // The request in flight completes, correctly, at its time.
    const FcgiReply reply = busy.read_reply(1, 10s);
    REQUIRE(reply.complete);
    CHECK(reply.protocol_status == 0);
    const CgiResponse resp = parse_cgi_response(reply.out);
    CHECK(resp.status == 200);
    CHECK(resp.body == "slow done 3000\n");
    CHECK(ms_since(t_signal) >= 2000);
    // Then its connection closes and the process exits 0.
    CHECK(busy.wait_closed(3s));
    const auto status = app.child->wait_exit(10s);
    REQUIRE_MESSAGE(status.has_value(), "still running 10 s after the drain:\n"
                                            << app.child->log());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    if (v.unix_socket) CHECK(::access(sock.c_str(), F_OK) != 0);  // the socket file is removed
    const std::string log = app.child->log();
    CHECK_MESSAGE(log.find("stopped") != std::string::npos, log);
  }
}

TEST_CASE("SIGTERM to an idle server exits 0 at once") {
  TempDir dir;
  App app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0", {"--threads", "3"},
                      dir.path() + "/server.log");
  FcgiConn kept(app.address);
  REQUIRE(kept.request(1, cgi_params("GET", "/x")).complete);
  const auto t = Clock::now();
  app.child->signal(SIGTERM);
  const auto status = app.child->wait_exit(5s);
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK(ms_since(t) < 3000);  // not the 10 s grace period
  CHECK(kept.wait_closed(1s));
}

}  // namespace
