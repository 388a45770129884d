// OpenSSL, unchanged, in coroutines: 50 clients, each a co::go coroutine of ONE thread,
// written with the plain OpenSSL 3 API on plain BLOCKING sockets (socket, connect,
// SSL_set_fd, SSL_connect, SSL_write, SSL_read, SSL_shutdown). The TLS server runs on its
// own thread (its own scheduler, a coroutine per connection) and answers each request after
// 300 ms. Blocking the thread in each call would take 50 x 0.3 = 15 s; parking only the
// coroutine takes about one pause. A BlockWatch shows the clients' thread never sat in a
// blocking system call; with the hooks turned off the same clients serialize and it does.
#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "cofcgi/adapters/tls.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"
#include "tls_test_util.h"

using namespace std::chrono_literals;
using tls_test::seconds_since;

namespace {

constexpr int kClients = 50;

struct ServerStats {
  std::atomic<int> served{0};
  std::atomic<int> failed{0};
  std::atomic<int> in_handler{0};
  std::atomic<int> max_in_handler{0};
};

// slow_echo_server: on its own thread, each connection: TLS handshake, one line, 300 ms,
// "echo: <line>", close_notify. Written with co::tls (the server is not what is proven here).
tls_test::ServerThread::Handler slow_echo_server(SSL_CTX* ctx, ServerStats* stats) {
  return [ctx, stats](int fd) {
    try {
      co::tls::Stream s = co::tls::Stream::accept(ctx, fd);
      const std::string line = s.read_until('\n', 1024);
      tls_test::update_max(stats->max_in_handler, ++stats->in_handler);
      co::sleep_for(300ms);
      --stats->in_handler;
      s.write("echo: " + line);
      s.shutdown();
      ++stats->served;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "server: %s\n", e.what());
      ++stats->failed;
    }
  };
}

struct ClientResults {
  int ok = 0;
  int failed = 0;
  int wrong_thread = 0;
  std::string first_error;
};

// client is plain OpenSSL client code, as any program has it (the error queue is cleared
// before each I/O call and drained after a failure: OpenSSL's rule for SSL_get_error).
void client(SSL_CTX* ctx, std::uint16_t port, int i, std::thread::id main_thread,
            ClientResults* res) {
  auto fail = [res](const std::string& what) {
    ++res->failed;
    if (res->first_error.empty()) {
      char buf[256];
      ERR_error_string_n(ERR_peek_error(), buf, sizeof buf);
      res->first_error = what + ": " + buf;
    }
    ERR_clear_error();
  };
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // blocking
  const sockaddr_in addr = tls_test::loopback(port);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) ::close(fd);
    return fail("connect");
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  SSL_set1_host(ssl, "localhost");
  const std::string request = "hello " + std::to_string(i) + "\n";
  std::string reply;
  ERR_clear_error();
  if (SSL_connect(ssl) != 1) {
    fail("SSL_connect");
  } else if (ERR_clear_error(),
             SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0) {
    fail("SSL_write");
  } else {
    char buf[256];
    for (;;) {
      ERR_clear_error();
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n > 0) {
        reply.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (SSL_get_error(ssl, n) != SSL_ERROR_ZERO_RETURN) fail("SSL_read");
      break;
    }
    SSL_shutdown(ssl);
    if (reply == "echo: " + request) {
      ++res->ok;
    } else if (res->failed == 0) {
      fail("wrong reply '" + reply + "'");
    }
  }
  if (std::this_thread::get_id() != main_thread) ++res->wrong_thread;
  SSL_free(ssl);
  ::close(fd);
}

SSL_CTX* client_ctx(const tls_test::Cert& cert) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx != nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  REQUIRE(SSL_CTX_load_verify_locations(ctx, cert.cert_file().c_str(), nullptr) == 1);
  return ctx;
}

}  // namespace

TEST_CASE(
    "tls: 50 coroutine clients, plain OpenSSL on blocking sockets, of a 300 ms server, in one "
    "thread") {
  cofcgi_test::LeakCheck leaks;
  tls_test::Cert cert;
  co::tls::Ctx server_ctx = co::tls::server_context_pem(cert.cert_pem(), cert.key_pem());
  SSL_CTX* ctx = client_ctx(cert);
  ServerStats stats;
  ClientResults res;
  tls_test::Ticker ticker;
  double elapsed = 0;
  {
    tls_test::ServerThread server(slow_echo_server(server_ctx.get(), &stats));
    const std::thread::id main_thread = std::this_thread::get_id();
    tls_test::BlockWatch watch;
    const co::Deadline start = co::now_ns();
    co::WaitGroup wg;
    ticker.start();
    for (int i = 0; i < kClients; ++i) {
      wg.add();
      co::go([&, i] {
        client(ctx, server.port(), i, main_thread, &res);
        wg.done();
      });
    }
    co::go([&] {
      wg.wait();
      elapsed = seconds_since(start);
      ticker.stop();
    });
    co::run();
    watch.stop();
    server.stop();
    CHECK(server.accepted() == kClients);
    INFO("client thread blocked: " << watch.describe());
    CHECK(watch.longest_ms() < 150.0);  // never sat in a blocking call: 300 ms waits parked
  }
  SSL_CTX_free(ctx);
  INFO("first client error: " << res.first_error);
  CHECK(res.ok == kClients);
  CHECK(res.failed == 0);
  CHECK(res.wrong_thread == 0);
  CHECK(stats.served == kClients);
  CHECK(stats.failed == 0);
  CHECK(stats.max_in_handler >= kClients * 9 / 10);  // all waiting in the server at once
  CHECK(elapsed >= 0.3);
  CHECK(elapsed < 2.0);  // serial: 50 x 0.3 s = 15 s
  MESSAGE("50 OpenSSL clients (coroutines, one thread) of a 300 ms TLS server: "
          << elapsed << " s; server saw " << stats.max_in_handler.load()
          << " at once; longest stretch the client thread did "
          << "not run the ticker: " << ticker.max_gap_ms() << " ms (CPU: handshakes)");
}

TEST_CASE(
    "tls: control - the same clients with the hooks turned off block the thread, one after "
    "another") {
  // co::set_hooks_enabled(false) makes every call the plain libc call: each client now holds
  // the thread for its whole exchange, which is what the 50-client figure above is measured
  // against (3 clients, to keep it short).
  constexpr int kSerial = 3;
  tls_test::Cert cert;
  co::tls::Ctx server_ctx = co::tls::server_context_pem(cert.cert_pem(), cert.key_pem());
  SSL_CTX* ctx = client_ctx(cert);
  ServerStats stats;
  ClientResults res;
  double elapsed = 0;
  double blocked_ms = 0;
  long blocked_in = -1;
  {
    tls_test::ServerThread server(slow_echo_server(server_ctx.get(), &stats));
    const std::thread::id main_thread = std::this_thread::get_id();
    tls_test::BlockWatch watch;
    const co::Deadline start = co::now_ns();
    co::WaitGroup wg;
    for (int i = 0; i < kSerial; ++i) {
      wg.add();
      co::go([&, i] {
        co::set_hooks_enabled(false);
        client(ctx, server.port(), i, main_thread, &res);
        co::set_hooks_enabled(true);
        wg.done();
      });
    }
    co::go([&] {
      wg.wait();
      elapsed = seconds_since(start);
    });
    co::run();
    watch.stop();
    blocked_ms = watch.longest_ms();
    blocked_in = watch.longest_syscall();
    server.stop();
  }
  SSL_CTX_free(ctx);
  INFO("first client error: " << res.first_error);
  CHECK(res.ok == kSerial);
  CHECK(stats.max_in_handler == 1);
  CHECK(elapsed >= kSerial * 0.3);
  CHECK(blocked_ms >= 250.0);  // what the check above catches: the thread in read() for 300 ms
  CHECK(blocked_in == SYS_read);
  MESSAGE(kSerial << " clients with hooks off: " << elapsed << " s; the thread sat " << blocked_ms
                  << " ms in syscall " << blocked_in << " (read)");
}
