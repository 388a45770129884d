// Name checks against a real OpenSSL peer (`openssl s_server`, a separate process) whose
// certificate is trusted but made out for another name: a verifying client must be told
// which name to expect (a trusted chain alone proves nothing about whom it reached), and a
// partial wildcard (f*.example.test) matches nothing.
#include <doctest/doctest.h>
#include <openssl/err.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "cofcgi/adapters/tls.h"
#include "cofcgi/runtime.h"
#include "fixture_util.h"
#include "leak_check.h"
#include "tls_test_util.h"

namespace {

// SServer: `openssl s_server` on a free loopback port with the given certificate, until
// the object goes.
class SServer {
 public:
  explicit SServer(const tls_test::Cert& cert) {
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
      port_ = cofcgi_test::pick_free_port();
      pid_ = cofcgi_test::spawn_logged(
          {COFCGI_OPENSSL_PROGRAM, "s_server", "-accept", "127.0.0.1:" + std::to_string(port_),
           "-cert", cert.cert_file(), "-key", cert.key_file(), "-quiet", "-naccept", "1000"},
          cert.dir() + "/s_server.log");
      cofcgi_test::track_process_group(pid_);
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!cofcgi_test::accepts_connections("127.0.0.1", port_) &&
             std::chrono::steady_clock::now() < give_up) {
        int status = 0;
        if (cofcgi_test::reap_group(&pid_, false, &status)) break;  // exited: port taken?
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    REQUIRE(pid_ > 0);
  }
  ~SServer() { cofcgi_test::stop_group(&pid_, SIGKILL, std::chrono::seconds(5)); }
  std::uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// handshake connects to the s_server and returns "" on success or the error's text.
std::string handshake(SSL_CTX* ctx, std::uint16_t port, const std::string& host,
                      bool pass_host = true) {
  std::string result;
  co::go([&] {
    try {
      const int fd = tls_test::connect_loopback(port);
      co::tls::Stream s =
          pass_host ? co::tls::Stream::connect(ctx, fd, host) : co::tls::Stream::connect(ctx, fd);
      s.shutdown();
    } catch (const std::exception& e) {
      result = e.what();
      if (result.empty()) result = "?";
    }
  });
  co::run();
  return result;
}

}  // namespace

TEST_CASE("tls verify: a verifying client needs the name; the chain alone is not enough") {
  cofcgi_test::LeakCheck leaks;
  tls_test::Cert other("other.example", "DNS:other.example");
  SServer server(other);
  co::tls::Ctx verifying =
      co::tls::client_context({.verify_peer = true, .ca_file = other.cert_file()});
  // The right name: fine.
  CHECK(handshake(verifying.get(), server.port(), "other.example") == "");
  // Another name: the certificate is trusted but not for it.
  const std::string wrong = handshake(verifying.get(), server.port(), "localhost");
  CHECK(wrong.find("hostname mismatch") != std::string::npos);
  // No name at all: refused before any byte is sent (it used to succeed: any trusted
  // certificate for any name was accepted).
  const std::string nameless = handshake(verifying.get(), server.port(), "", false);
  MESSAGE("no host name: " << nameless);
  CHECK(nameless.find("host name") != std::string::npos);
  // Verification explicitly off: the caller said it does not care.
  co::tls::Ctx trusting = co::tls::client_context({.verify_peer = false, .ca_file = {}});
  CHECK(handshake(trusting.get(), server.port(), "", false) == "");
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("tls verify: partial wildcards match nothing; whole-label wildcards still work") {
  cofcgi_test::LeakCheck leaks;
  tls_test::Cert wild("wild", "DNS:f*.example.test,DNS:*.wild.test");
  SServer server(wild);
  co::tls::Ctx ctx = co::tls::client_context({.verify_peer = true, .ca_file = wild.cert_file()});
  const std::string partial = handshake(ctx.get(), server.port(), "foo.example.test");
  MESSAGE("f*.example.test for foo.example.test: " << partial);
  CHECK(partial.find("hostname mismatch") != std::string::npos);
  CHECK(handshake(ctx.get(), server.port(), "a.wild.test") == "");
  // A wildcard covers one label only.
  CHECK(handshake(ctx.get(), server.port(), "a.b.wild.test").find("hostname mismatch") !=
        std::string::npos);
}
