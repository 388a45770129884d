// The headline proof of the FastCGI layer: 1000 concurrent requests through the real nginx
// to examples/sleep_sql (one app thread, a pool of 1000 MariaDB connections), each running
// SELECT SLEEP(0.2), complete in about 0.2 s plus overhead (serially: 200 s).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "cgi_test_util.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "mariadb_server.h"
#include "nginx_server.h"

namespace {

// One HTTP/1.0 GET with plain blocking calls; in a coroutine the hooks park it.
std::string http_get(std::uint16_t port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + target + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        reply.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

}  // namespace

TEST_CASE("1000 concurrent sleep_sql requests of 0.2 s through nginx, one app thread") {
  cgi_test::raise_fd_limit();
  cofcgi_test::MariadbServer db;
  db.start();
  cgi_test::TempDir dir;
  cgi_test::App app = cgi_test::start_app(
      COFCGI_SLEEP_SQL_EXE, "unix:" + dir.path() + "/app.sock",
      {"--threads", "1", "--mysql-socket", db.socket_path(), "--mysql-user", db.user(),
       "--mysql-password", db.password(), "--pool", "1000", "--status-path", "/status"},
      dir.path() + "/app.log");
  cofcgi_test::NginxServerOptions options;
  options.upstream = app.address;
  options.keepalive = 1024;
  cofcgi_test::NginxServer nginx(options);
  nginx.start();

  // Warm up: open the pool's connections (connects are not what is measured).
  {
    int ok = 0;
    for (int i = 0; i < 1000; ++i)
      co::go([&] { ok += http_get(nginx.port(), "/?s=0.01").find("= 0") != std::string::npos; });
    co::run();
    REQUIRE(ok == 1000);
  }

  int ok = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    co::go([&] {
      const std::string reply = http_get(nginx.port(), "/?s=0.2");
      if (reply.rfind("HTTP/1.1 200", 0) == 0 && reply.find("SLEEP(0.2) = 0") != std::string::npos)
        ++ok;
    });
  }
  co::run();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("1000 x SELECT SLEEP(0.2) through nginx: " << seconds << " s");
  CHECK(ok == 1000);
  CHECK(seconds >= 0.2);
  CHECK(seconds < 3.0);  // serial: 200 s; a pool of threads of 32: 6.25 s

  // The pool's figures on the status page: every connection it opened, none lent now.
  const std::string status = http_get(nginx.port(), "/status?json");
  INFO(status);
  CHECK(status.find("\"mysql_pool\":{") != std::string::npos);
  CHECK(status.find("\"max_open\":1000") != std::string::npos);
  CHECK(status.find("\"in_use\":0") != std::string::npos);
  CHECK(status.find("\"wait_seconds_total\":") != std::string::npos);
}
