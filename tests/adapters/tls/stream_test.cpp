// co::tls helpers in coroutines of one thread: certificate and name verification (a failing
// handshake next to working ones), socket timeouts, large transfers that park on a full
// socket buffer, and OpenSSL's per-thread error queue shared by the coroutines of a thread.
#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "cofcgi/adapters/tls.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"
#include "tls_test_util.h"

using namespace std::chrono_literals;
using tls_test::seconds_since;

namespace {

// echo_line: the server side used by most cases: handshake, one line back, close_notify.
void echo_line(SSL_CTX* ctx, int fd) {
  try {
    co::tls::Stream s = co::tls::Stream::accept(ctx, fd);
    s.write("echo: " + s.read_until('\n', 1024));
    s.shutdown();
  } catch (const co::tls::Error&) {
    // a client that rejected the certificate: expected in the verification case
  }
}

// start_listener: a coroutine of this thread accepting `count` connections, each handled
// by handler(fd) in a coroutine of its own.
template <typename H>
void serve(int listener, int count, H handler) {
  co::go([listener, count, handler] {
    for (int i = 0; i < count; ++i) {
      const int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      co::go([c, handler] { handler(c); });
    }
  });
}

}  // namespace

TEST_CASE("tls stream: verified connections by name and address; a wrong name fails alone") {
  cofcgi_test::LeakCheck leaks;
  tls_test::Cert cert;
  co::tls::Ctx server_ctx = co::tls::server_context_pem(cert.cert_pem(), cert.key_pem());
  co::tls::Ctx client_ctx =
      co::tls::client_context({.verify_peer = true, .ca_file = cert.cert_file()});
  std::uint16_t port = 0;
  const int listener = tls_test::listen_loopback(&port);
  constexpr int kGood = 20;
  int ok = 0;
  int bad_rejected = 0;
  std::string bad_message;
  int bad_ssl_error = 0;
  std::string unexpected;
  serve(listener, kGood + 1, [ctx = server_ctx.get()](int fd) { echo_line(ctx, fd); });
  for (int i = 0; i < kGood; ++i) {
    co::go([&, i] {
      try {
        // half by name (SNI + DNS SAN), half by address (IP SAN, no SNI)
        co::tls::Stream s = co::tls::Stream::connect(
            client_ctx.get(), tls_test::connect_loopback(port), i % 2 ? "localhost" : "127.0.0.1");
        s.write("x" + std::to_string(i) + "\n");
        std::string reply = s.read_until('\n', 100);
        char extra;
        if (reply == "echo: x" + std::to_string(i) + "\n" && s.read(&extra, 1) == 0) ++ok;
      } catch (const std::exception& e) {
        unexpected = e.what();
      }
    });
  }
  co::go([&] {
    try {
      co::tls::Stream::connect(client_ctx.get(), tls_test::connect_loopback(port), "wrong.example");
    } catch (const co::tls::Error& e) {
      ++bad_rejected;
      bad_message = e.what();
      bad_ssl_error = e.ssl_error();
    }
    CHECK(ERR_peek_error() == 0);  // the Error took the queue's contents
  });
  co::run();
  ::close(listener);
  INFO("unexpected: " << unexpected);
  CHECK(ok == kGood);
  CHECK(bad_rejected == 1);
  CHECK(bad_ssl_error == SSL_ERROR_SSL);
  CHECK(bad_message.find("hostname mismatch") != std::string::npos);
  CHECK(bad_message.find("certificate verify failed") != std::string::npos);
  MESSAGE("wrong name: " << bad_message);
}

TEST_CASE("tls stream: SO_RCVTIMEO bounds a read; the coroutine parks meanwhile") {
  cofcgi_test::LeakCheck leaks;
  tls_test::Cert cert;
  co::tls::Ctx server_ctx = co::tls::server_context_pem(cert.cert_pem(), cert.key_pem());
  co::tls::Ctx client_ctx = co::tls::client_context({.verify_peer = false, .ca_file = {}});
  std::uint16_t port = 0;
  const int listener = tls_test::listen_loopback(&port);
  bool released = false;
  // The server completes the handshake, then says nothing until the client gave up.
  serve(listener, 1, [ctx = server_ctx.get(), &released](int fd) {
    co::tls::Stream s = co::tls::Stream::accept(ctx, fd);
    while (!released) co::sleep_for(10ms);
  });
  tls_test::BlockWatch watch;
  bool timed_out = false;
  double waited = 0;
  std::string message;
  co::go([&] {
    const int fd = tls_test::connect_loopback(port);
    const timeval tv{0, 200'000};
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    co::tls::Stream s = co::tls::Stream::connect(client_ctx.get(), fd);
    const co::Deadline start = co::now_ns();
    try {
      char c;
      s.read(&c, 1);
    } catch (const co::tls::Error& e) {
      timed_out = e.timed_out();
      message = e.what();
    }
    waited = seconds_since(start);
    released = true;
  });
  co::run();
  watch.stop();
  ::close(listener);
  INFO(message);
  CHECK(timed_out);
  CHECK(waited >= 0.19);
  CHECK(waited < 1.0);
  INFO("blocked: " << watch.describe());
  CHECK(watch.longest_ms() < 150.0);  // the 200 ms wait parked
  MESSAGE("read timed out after " << waited << " s: " << message);
}

TEST_CASE("tls stream: 8 MiB each way over 8 connections, both ends in one thread") {
  // Every SSL_write is far larger than the socket buffers, so the blocking write parks on
  // POLLOUT until the peer coroutine (same thread) reads.
  cofcgi_test::LeakCheck leaks;
  constexpr int kConns = 8;
  constexpr size_t kSize = 1 << 20;
  tls_test::Cert cert;
  co::tls::Ctx server_ctx = co::tls::server_context_pem(cert.cert_pem(), cert.key_pem());
  co::tls::Ctx client_ctx =
      co::tls::client_context({.verify_peer = true, .ca_file = cert.cert_file()});
  std::uint16_t port = 0;
  const int listener = tls_test::listen_loopback(&port);
  int server_ok = 0;
  int client_ok = 0;
  std::string error;
  serve(listener, kConns, [ctx = server_ctx.get(), &server_ok, &error](int fd) {
    try {
      co::tls::Stream s = co::tls::Stream::accept(ctx, fd);
      std::vector<char> buf(kSize);
      size_t got = 0;
      while (got < kSize) {
        const size_t n = s.read(buf.data() + got, kSize - got);
        if (n == 0) break;
        got += n;
      }
      s.write(buf.data(), got);  // one call, all of it back
      s.shutdown();
      if (got == kSize) ++server_ok;
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  for (int i = 0; i < kConns; ++i) {
    co::go([&, i] {
      try {
        co::tls::Stream s = co::tls::Stream::connect(client_ctx.get(),
                                                     tls_test::connect_loopback(port), "localhost");
        std::vector<char> out(kSize);
        for (size_t k = 0; k < kSize; ++k)
          out[k] = static_cast<char>((k * 31 + static_cast<size_t>(i)) & 0xff);
        s.write(out.data(), kSize);
        std::vector<char> in;
        char buf[16384];
        while (const size_t n = s.read(buf, sizeof buf)) in.insert(in.end(), buf, buf + n);
        if (in == out) ++client_ok;
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
  }
  const co::Deadline start = co::now_ns();
  co::run();
  ::close(listener);
  INFO(error);
  CHECK(server_ok == kConns);
  CHECK(client_ok == kConns);
  MESSAGE("8 x 1 MiB echoed over TLS in one thread: " << seconds_since(start) << " s");
}

// The coroutines of a thread share OpenSSL's per-thread error queue. Coroutine A waits in
// SSL_read for the peer's close_notify; while it is parked, coroutine B fails a handshake.
// If B leaves its errors queued (raw OpenSSL without draining), A's SSL_get_error reports
// SSL_ERROR_SSL for what is a clean close. co::tls::Error drains the queue, so A sees
// SSL_ERROR_ZERO_RETURN; and co::tls::Stream::read as A does not depend on the queue. (Draining
// takes the whole queue, the errors of every coroutine of the thread: an Error may carry text
// queued by a neighbour that broke the rule.)
namespace {

// Returns what A saw as SSL_get_error() would say it (A with co::tls: SSL_ERROR_ZERO_RETURN
// when Stream::read returned 0, else the Error's ssl_error()).
int close_notify_seen_while_neighbour_fails(bool a_uses_stream, bool neighbour_uses_stream) {
  tls_test::Cert cert;
  co::tls::Ctx server_ctx = co::tls::server_context_pem(cert.cert_pem(), cert.key_pem());
  // No TLS 1.3 session tickets: A's SSL_read would handle them in OpenSSL's handshake state
  // machine, which starts with ERR_clear_error() and so wipes the thread's queue, whoever
  // queued the errors (one more way coroutines of a thread touch each other's errors).
  SSL_CTX_set_num_tickets(server_ctx.get(), 0);
  co::tls::Ctx good_ctx = co::tls::client_context({.verify_peer = false, .ca_file = {}});
  co::tls::Ctx strict_ctx =
      co::tls::client_context({.verify_peer = true, .ca_file = {}});  // system CAs: rejects ours
  // The server is on its own thread: a failing SSL_accept of this thread would drain the
  // queue (co::tls::Error takes all of it) and hide the effect. A's connection gets its
  // close_notify only once B has failed; B starts only once A is in SSL_read. B's own
  // connection fails on B's side first.
  std::atomic<bool> a_reading{false};
  std::atomic<bool> b_failed{false};
  tls_test::ServerThread server([ctx = server_ctx.get(), &b_failed](int fd) {
    try {
      co::tls::Stream s = co::tls::Stream::accept(ctx, fd);
      const co::Deadline give_up = co::deadline_after(std::chrono::seconds(5));
      while (!b_failed && co::now_ns() < give_up) co::sleep_for(5ms);
      s.shutdown();
    } catch (const co::tls::Error&) {
    }
  });
  const std::uint16_t port = server.port();
  int a_error = -1;
  co::go([&] {
    const int fd = tls_test::connect_loopback(port);
    if (a_uses_stream) {
      try {
        co::tls::Stream s = co::tls::Stream::connect(good_ctx.get(), fd);
        char c;
        a_reading = true;
        a_error = s.read(&c, 1) == 0 ? SSL_ERROR_ZERO_RETURN : SSL_ERROR_NONE;
      } catch (const co::tls::Error& e) {
        a_error = e.ssl_error();
      }
      a_reading = true;
      return;
    }
    SSL* ssl = SSL_new(good_ctx.get());
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    if (SSL_connect(ssl) == 1) {
      char c;
      ERR_clear_error();  // OpenSSL's rule, followed
      a_reading = true;
      const int n = SSL_read(ssl, &c, 1);  // parks until the close_notify; B fails meanwhile
      a_error = SSL_get_error(ssl, n);
    }
    a_reading = true;  // (also when the handshake failed: do not leave B waiting)
    ERR_clear_error();
    SSL_free(ssl);
    ::close(fd);
  });
  co::go([&] {
    while (!a_reading) co::sleep_for(5ms);
    const int fd = tls_test::connect_loopback(port);
    if (neighbour_uses_stream) {
      try {
        co::tls::Stream::connect(strict_ctx.get(), fd, "localhost");
      } catch (const co::tls::Error&) {
      }
    } else {
      SSL* ssl = SSL_new(strict_ctx.get());
      SSL_set_fd(ssl, fd);
      SSL_connect(ssl);  // fails verification; its errors stay queued
      SSL_free(ssl);
      ::close(fd);
    }
    b_failed = true;
  });
  co::run();
  server.stop();
  ERR_clear_error();
  return a_error;
}

}  // namespace

TEST_CASE("tls stream: one coroutine's OpenSSL errors and another's SSL_get_error") {
  // co::tls drains its errors into the Error: a raw neighbour's SSL_get_error stays right.
  CHECK(close_notify_seen_while_neighbour_fails(false, true) == SSL_ERROR_ZERO_RETURN);
  // The trap (documented in tls.h): a raw neighbour that leaves errors queued turns a clean
  // close into SSL_ERROR_SSL for raw code that followed OpenSSL's rule ...
  CHECK(close_notify_seen_while_neighbour_fails(false, false) == SSL_ERROR_SSL);
  // ... but not for co::tls::Stream::read, which tells a close_notify by SSL_get_shutdown.
  CHECK(close_notify_seen_while_neighbour_fails(true, false) == SSL_ERROR_ZERO_RETURN);
}
