// MariaDB over TLS through the pool (Config::set_options: MYSQL_OPT_SSL_CA, server name
// verified) while, on the same thread, other coroutines make co::tls fail over and over.
// OpenSSL's error queue is per thread, so every coroutine of the thread shares it, and
// libmariadb's ma_tls_read calls SSL_get_error() (which looks at the queue first) after each
// SSL_read that would block: an error left queued by a neighbour while it was parked would
// turn "would block" into a failed query. co::tls drains its errors into the Error it throws
// before its coroutine can park again, so the queries must all succeed. They also succeed
// next to raw OpenSSL calls that leave their errors queued: libmariadb's socket is blocking
// (as it sees it), so SSL_read parks inside the hooked read() and returns data; SSL_get_error
// is consulted only when SSL_read has really failed (the only effect: that error's text).
// The private mariadbd gets a certificate the test makes (tests/adapters/tls/tls_test_util.h).
#include "cofcgi/adapters/tls.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "mysql_test_util.h"
#include "tls_test_util.h"

using namespace mysql_test;

namespace {

// A TLS listener in this thread whose certificate the failing clients do not trust: each
// handshake fails on both ends (verification on the client, the alert on the server).
struct UntrustedPeer {
  tls_test::Cert cert;  // self-signed, not in the clients' CA file
  co::tls::Ctx server_ctx = co::tls::server_context_pem(cert.cert_pem(), cert.key_pem());
  std::uint16_t port = 0;
  int listener = tls_test::listen_loopback(&port);
  ~UntrustedPeer() { ::close(listener); }
};

}  // namespace

TEST_CASE("mysql over TLS: queries succeed while co::tls errors happen around them") {
  co::mysql::library_init();
  co::mysql::thread_init();
  tls_test::Cert db_cert;  // CN=localhost, SAN DNS:localhost, IP:127.0.0.1
  cofcgi_test::MariadbServerOptions opts;
  opts.extra_args = {"--ssl-cert=" + db_cert.cert_file(), "--ssl-key=" + db_cert.key_file(),
                     "--ssl-ca=" + db_cert.cert_file()};
  cofcgi_test::MariadbServer db(opts);
  db.start();

  auto cfg = pool_config(false, 6, db);  // TCP: TLS is not used over the unix socket
  const std::string ca = db_cert.cert_file();
  cfg.set_options = [ca](MYSQL* m) {
    mysql_optionsv(m, MYSQL_OPT_SSL_CA, ca.c_str());
    const my_bool verify = 1;
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  };
  co::mysql::Pool pool(cfg);

  UntrustedPeer peer;
  tls_test::Cert other;  // the CA the failing clients trust (not the peer's)
  co::tls::Ctx failing_ctx =
      co::tls::client_context({.verify_peer = true, .ca_file = other.cert_file()});

  // Two neighbours in turn: co::tls (drains its errors), then raw OpenSSL calls that break
  // the rule and leave their errors queued.
  for (const bool raw_neighbour : {false, true}) {
    CAPTURE(raw_neighbour);
    constexpr int kQueriers = 6, kRounds = 30;
    int ok = 0, wrong = 0, tls_failures = 0, queriers_left = kQueriers;
    std::string cipher, first_error;
    bool nonblocking = false;
    const int big = 300000;  // a result of many TLS records: SSL_read would block many times
    run_coroutines(kQueriers + 2, [&](int i) {
      if (i == kQueriers) {  // the untrusted peer's accept loop
        while (queriers_left > 0) {
          const int fd = ::accept4(peer.listener, nullptr, nullptr, SOCK_CLOEXEC);
          if (fd < 0) return;
          co::go([&, fd] {
            try {
              co::tls::Stream::accept(peer.server_ctx.get(), fd);
            } catch (const co::tls::Error&) {
              ++tls_failures;
            }
          });
        }
        return;
      }
      if (i == kQueriers + 1) {  // failing co::tls clients, back to back
        while (queriers_left > 0) {
          if (raw_neighbour) {
            const int fd = tls_test::connect_loopback(peer.port);
            SSL* ssl = SSL_new(failing_ctx.get());
            SSL_set_fd(ssl, fd);
            if (SSL_connect(ssl) != 1) ++tls_failures;  // its errors stay queued
            SSL_free(ssl);
            ::close(fd);
          } else {
            try {
              co::tls::Stream::connect(failing_ctx.get(), tls_test::connect_loopback(peer.port),
                                       "localhost");
            } catch (const co::tls::Error&) {
              ++tls_failures;
            }
          }
          co::sleep_for(std::chrono::milliseconds(1));
        }
        // Wake the accept loop so it sees the end.
        ::close(tls_test::connect_loopback(peer.port));
        return;
      }
      for (int round = 0; round < kRounds; ++round) {
        try {
          auto conn = pool.acquire();
          if (cipher.empty()) {
            const char* c = nullptr;
            mariadb_get_infov(conn.get(), MARIADB_CONNECTION_SSL_CIPHER, &c);
            cipher = c ? c : "";
            // What libmariadb set on its socket (the hooks report the caller's O_NONBLOCK).
            nonblocking = (::fcntl(static_cast<int>(mysql_get_socket(conn.get())), F_GETFL) &
                           O_NONBLOCK) != 0;
          }
          auto r = conn.prepare("SELECT REPEAT(CHAR(65 + ?), ?), ?").execute(i, big + round, round);
          const std::string s = r[0].get<std::string>(0);
          if (s.size() == static_cast<std::size_t>(big + round) &&
              s.find_first_not_of(static_cast<char>('A' + i)) == std::string::npos &&
              r[0].get<int>(1) == round)
            ++ok;
          else
            ++wrong;
        } catch (const std::exception& e) {
          if (first_error.empty()) first_error = e.what();
          ++wrong;
        }
      }
      --queriers_left;
    });
    MESSAGE("TLS cipher ", cipher, " (libmariadb's socket ",
            std::string(nonblocking ? "non-blocking" : "blocking"), "); ", ok,
            " queries of ~300 KB ok, ", wrong, " failed ('", first_error, "'); ", tls_failures,
            " co::tls failures on the same thread meanwhile");
    CHECK(!cipher.empty());
    CHECK(ok == kQueriers * kRounds);
    CHECK(wrong == 0);
    CHECK(tls_failures >= 20);
    ERR_clear_error();  // (what the raw neighbour left)
    // TLS connections are reused, not found unhealthy and replaced at each lease.
    CHECK(pool.stats().connects == static_cast<std::uint64_t>(kQueriers));
    CHECK(pool.stats().health_check_failures == 0);
  }
}
