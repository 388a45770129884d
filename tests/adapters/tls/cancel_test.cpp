// A TLS handshake cut short by cancellation or a deadline (cofcgi/runtime/cancel.h): the
// client has sent its ClientHello to a real OpenSSL server (co::tls on its own thread) that
// holds back its answer; cancelling the client coroutine makes Stream::connect throw at
// once, and nothing is left behind: the socket is closed, no coroutine, timer or fd remains,
// and the thread's OpenSSL error queue is empty (memory: LeakSanitizer in the ASan pass).
#include <doctest/doctest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include "cofcgi/adapters/tls.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"
#include "tls_test_util.h"

using namespace std::chrono_literals;
using tls_test::seconds_since;

namespace {

// StallingServer: a real OpenSSL server that waits for the ClientHello, then holds back its
// answer until released (or 5 s), then tries the handshake (which fails: the client is gone).
struct StallingServer {
  // Its late ServerHello goes to a closed socket: EPIPE, not SIGPIPE (tls.h: servers ignore it).
  StallingServer() { std::signal(SIGPIPE, SIG_IGN); }
  std::atomic<bool> hello_seen{false};
  std::atomic<bool> release{false};
  std::atomic<int> done{0};
  tls_test::Cert cert;
  co::tls::Ctx ctx = co::tls::server_context_pem(cert.cert_pem(), cert.key_pem());
  tls_test::ServerThread thread{[this](int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) == 1) hello_seen = true;
    for (int i = 0; i < 1000 && !release; ++i) co::sleep_for(5ms);
    try {
      co::tls::Stream s = co::tls::Stream::accept(ctx.get(), fd);  // owns fd from here
    } catch (const std::exception&) {
    }
    ++done;
  }};

  void finish() {
    release = true;
    for (int i = 0; i < 1000 && done.load() == 0; ++i) std::this_thread::sleep_for(5ms);
  }
};

struct Attempt {
  std::string error;
  double after = 0;
  bool hello_seen_before = false;
};

}  // namespace

TEST_CASE(
    "tls cancel: a handshake cancelled while the OpenSSL server holds its answer throws at "
    "once and leaves nothing behind") {
  StallingServer server;
  co::tls::Ctx client_ctx = co::tls::client_context({.verify_peer = false, .ca_file = {}});
  Attempt a;
  {
    cofcgi_test::LeakCheck leaks;
    co::CancelHandle handle;
    co::go([&] {
      handle = co::CancelHandle::current();
      const int fd = tls_test::connect_loopback(server.thread.port());
      REQUIRE(fd >= 0);
      const co::Deadline start = co::now_ns();
      try {
        co::tls::Stream s = co::tls::Stream::connect(client_ctx.get(), fd, "localhost");
      } catch (const co::tls::Error& e) {
        a.error = e.what();
      }
      a.after = seconds_since(start);
    });
    co::go([&] {
      for (int i = 0; i < 400 && !server.hello_seen; ++i) co::sleep_for(5ms);
      a.hello_seen_before = server.hello_seen;
      handle.cancel();
    });
    co::run();
    server.finish();  // the server's end of the connection is closed too before counting
    CHECK(co::tls::take_errors().empty());
  }
  MESSAGE("handshake cancelled after " << a.after << " s: " << a.error);
  CHECK(a.hello_seen_before);  // cancelled mid-handshake, ClientHello sent
  CHECK_FALSE(a.error.empty());
  CHECK(a.after < 2.0);
  CHECK(server.done.load() == 1);
}

TEST_CASE("tls cancel: a DeadlineScope ends a stalled handshake in time") {
  StallingServer server;
  co::tls::Ctx client_ctx = co::tls::client_context({.verify_peer = false, .ca_file = {}});
  Attempt a;
  {
    cofcgi_test::LeakCheck leaks;
    co::go([&] {
      const int fd = tls_test::connect_loopback(server.thread.port());
      REQUIRE(fd >= 0);
      const co::Deadline start = co::now_ns();
      try {
        co::DeadlineScope deadline(100ms);
        co::tls::Stream s = co::tls::Stream::connect(client_ctx.get(), fd, "localhost");
      } catch (const co::tls::Error& e) {
        a.error = e.what();
      }
      a.after = seconds_since(start);
    });
    co::run();
    server.finish();
  }
  MESSAGE("handshake past its deadline after " << a.after << " s: " << a.error);
  CHECK_FALSE(a.error.empty());
  CHECK(a.after >= 0.09);
  CHECK(a.after < 2.0);
}
