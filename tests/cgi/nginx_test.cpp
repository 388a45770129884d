// Through a real nginx (tests/support/nginx_server.h: Debian's nginx, fastcgi_keep_conn on,
// upstream keepalive): the examples as child processes on TCP and unix sockets, and
// in-process servers for what needs a custom handler. HTTP is spoken by a small client in
// cgi_test_util.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>

#include "cgi_test_util.h"
#include "cofcgi/cgi/router.h"
#include "nginx_server.h"

namespace {

using namespace cgi_test;
using co::cgi::Request;
using co::cgi::Response;
using cofcgi_test::NginxServer;
using cofcgi_test::NginxServerOptions;

NginxServerOptions nginx_for(const std::string& upstream) {
  REQUIRE_MESSAGE(!NginxServer::nginx_path().empty(), "nginx not found: apt-get install nginx");
  NginxServerOptions o;
  o.upstream = upstream;
  return o;
}

HttpResponse http(const NginxServer& nginx, const std::string& method, const std::string& target,
                  const std::string& body = {}) {
  return http_request(nginx.host(), nginx.port(), method, target, body);
}

TEST_CASE("hello through nginx over TCP: GET, POST, HEAD") {
  TempDir dir;
  App app = start_app(COFCGI_HELLO_EXE, "127.0.0.1:0", {}, dir.path() + "/hello.log");
  NginxServer nginx(nginx_for(app.address));
  nginx.start();
  for (int i = 0; i < 3; ++i) {
    HttpResponse r = http(nginx, "GET", "/?n=" + std::to_string(i));
    CHECK(r.status == 200);
    CHECK(r.header("Content-Type") == std::optional<std::string>("text/plain"));
    CHECK(r.body == "Hello, World!\n");
    r = http(nginx, "POST", "/form", "a=1&b=2");
    CHECK(r.status == 200);
    CHECK(r.body == "Hello, World!\n");
    r = http(nginx, "HEAD", "/");
    CHECK(r.status == 200);
    CHECK(r.header("Content-Length") == std::optional<std::string>("14"));
    CHECK(r.body.empty());
  }
  CHECK_MESSAGE(nginx.error_log_tail().find("[error]") == std::string::npos,
                nginx.error_log_tail());
}

TEST_CASE("echo through nginx over a unix socket: GET, POST, HEAD") {
  TempDir dir;
  App app =
      start_app(COFCGI_ECHO_EXE, "unix:" + dir.path() + "/echo.sock", {}, dir.path() + "/echo.log");
  NginxServer nginx(nginx_for(app.address));
  nginx.start();
  HttpResponse r = http(nginx, "GET", "/a/b?c=d&e=%2F");
  CHECK(r.status == 200);
  CHECK(r.header("Content-Type") == std::optional<std::string>("text/plain"));
  CHECK(r.body == "GET /a/b?c=d&e=%2F\n");
  const std::string body = random_bytes(5000, 5);
  r = http(nginx, "POST", "/post", body);
  CHECK(r.status == 200);
  CHECK(r.body == "POST /post\n" + body);
  r = http(nginx, "POST", "/empty", "");
  CHECK(r.status == 200);
  CHECK(r.body == "POST /empty\n");
  r = http(nginx, "HEAD", "/head");
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK_MESSAGE(nginx.error_log_tail().find("[error]") == std::string::npos,
                nginx.error_log_tail());
}

TEST_CASE("a 10 MB request body and a 10 MB response through nginx and echo, intact") {
  const std::string body = random_bytes(10 * 1024 * 1024, 42);
  // nginx stops sending the request body once it has passed a response header on; echo
  // answers while it reads, so the server must hold the first output until the body is all
  // there -- with request buffering off the body comes at the client's pace.
  struct Variant {
    const char* name;
    bool unix_socket;
    bool request_buffering;
  };
  for (const Variant v : {Variant{"tcp", false, true}, Variant{"unix", true, true},
                          Variant{"tcp, request buffering off", false, false}}) {
    const std::string variant = v.name;
    CAPTURE(variant);
    TempDir dir;
    App app = start_app(COFCGI_ECHO_EXE,
                        v.unix_socket ? "unix:" + dir.path() + "/echo.sock" : "127.0.0.1:0",
                        {"--max-body", "20000000"}, dir.path() + "/echo.log");
    NginxServerOptions o = nginx_for(app.address);
    o.request_buffering = v.request_buffering;
    NginxServer nginx(o);
    nginx.start();
    for (int round = 0; round < 2; ++round) {
      const auto t0 = std::chrono::steady_clock::now();
      const HttpResponse r = http(nginx, "POST", "/big", body);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
      MESSAGE(variant << ": 10 MB up and 10 MB down through nginx in " << ms << " ms");
      REQUIRE(r.status == 200);
      const std::string head = "POST /big\n";
      REQUIRE(r.body.size() == head.size() + body.size());
      CHECK(r.body.compare(0, head.size(), head) == 0);
      CHECK(fnv1a64(std::string_view(r.body).substr(head.size())) == fnv1a64(body));
    }
    // And the kept connection is fine for the next, small request.
    CHECK(http(nginx, "GET", "/after").body == "GET /after\n");
  }
}

// With fastcgi_request_buffering off nginx passes the body on as it arrives.
TEST_CASE(
    "a 10 MB body streamed by nginx (request buffering off) to a handler reading it as it comes") {
  const std::string body = random_bytes(10 * 1024 * 1024, 43);
  std::atomic<int> reads{0};
  auto handler = [&reads](Request& req, Response& resp) {
    char chunk[16 * 1024];
    std::string all;
    while (const std::size_t n = req.read_body(chunk, sizeof chunk)) {
      all.append(chunk, n);
      reads.fetch_add(1);
    }
    resp.set_content_type("text/plain");
    resp << "size " << std::to_string(all.size()) << " hash " << std::to_string(fnv1a64(all))
         << "\n";
  };
  co::cgi::ServerOptions so;
  so.listen = "127.0.0.1:0";
  InProcessServer app(so, handler);
  NginxServerOptions o = nginx_for(app.address());
  o.request_buffering = false;
  NginxServer nginx(o);
  nginx.start();
  const HttpResponse r = http(nginx, "PUT", "/upload", body);
  CHECK(r.status == 200);
  CHECK(r.body ==
        "size " + std::to_string(body.size()) + " hash " + std::to_string(fnv1a64(body)) + "\n");
  CHECK(reads.load() >= 640);
}

TEST_CASE("nginx reuses kept upstream connections: 200 requests, a few connections") {
  std::atomic<int> served{0};
  auto handler = [&served](Request& req, Response& resp) {
    served.fetch_add(1);
    resp.set_content_type("text/plain");
    resp << std::string(req.method()) << " " << std::string(req.uri()) << " "
         << std::to_string(req.body().size()) << "\n";
  };
  co::cgi::ServerOptions so;
  so.listen = "127.0.0.1:0";
  int with_keepalive = 0;
  {
    InProcessServer app(so, handler);
    NginxServer nginx(nginx_for(app.address()));
    nginx.start();
    for (int i = 0; i < 200; ++i) {
      // GETs and POSTs: nginx answers a POST with 502 if the app closes a kept connection.
      const bool post = i % 2 == 1;
      const std::string target = "/k" + std::to_string(i);
      const HttpResponse r = http(nginx, post ? "POST" : "GET", target, post ? "body" : "");
      REQUIRE_MESSAGE(r.status == 200, "request " << i << ": " << r.status << "\n"
                                                  << nginx.error_log_tail());
      CHECK(r.body == (post ? "POST " : "GET ") + target + (post ? " 4\n" : " 0\n"));
    }
    with_keepalive = static_cast<int>(tcp_connections_to(app.port()).size());
    CHECK(served.load() == 200);
  }
  MESSAGE("200 requests through nginx with upstream keepalive: " << with_keepalive
                                                                 << " app connections");
  CHECK(with_keepalive >= 1);
  CHECK(with_keepalive <= 4);

  // The same without keepalive, to show the count above measures what it should.
  served = 0;
  InProcessServer app(so, handler);
  NginxServerOptions o = nginx_for(app.address());
  o.keepalive = 0;
  o.keep_conn = false;
  NginxServer nginx(o);
  nginx.start();
  for (int i = 0; i < 200; ++i) REQUIRE(http(nginx, "GET", "/n" + std::to_string(i)).status == 200);
  const std::size_t without = tcp_connections_to(app.port()).size();
  MESSAGE("... and without keepalive: " << without << " app connections");
  CHECK(without >= 190);
}

TEST_CASE(
    "a body over echo's --max-body is answered 413 through nginx, and the next requests are fine") {
  // The 413 goes out at the end of PARAMS, while nginx still sends the body: the app must
  // not close the connection before that body has arrived (nginx would answer 502).
  for (const bool keep_conn : {true, false}) {
    CAPTURE(keep_conn);
    TempDir dir;
    App app =
        start_app(COFCGI_ECHO_EXE, "127.0.0.1:0", {"--max-body", "1000"}, dir.path() + "/echo.log");
    NginxServerOptions o = nginx_for(app.address);
    o.keep_conn = keep_conn;
    o.keepalive = keep_conn ? 16 : 0;
    NginxServer nginx(o);
    nginx.start();
    for (int i = 0; i < 10; ++i) {
      CAPTURE(i);
      HttpResponse r = http(nginx, "POST", "/big", std::string(5000 + i * 10000, 'x'));
      CHECK(r.status == 413);
      r = http(nginx, "POST", "/small", "12345");
      CHECK(r.status == 200);
      CHECK(r.body == "POST /small\n12345");
      r = http(nginx, "POST", "/edge", std::string(1000, 'e'));
      CHECK(r.status == 200);
      r = http(nginx, "POST", "/edge", std::string(1001, 'e'));
      CHECK(r.status == 413);
    }
    CHECK_MESSAGE(nginx.error_log_tail().find("[error]") == std::string::npos,
                  nginx.error_log_tail());
  }
}

TEST_CASE("a Router behind nginx: routes, path parameters, 404 and 405") {
  co::cgi::Router router;
  router.get("/users/{id}", [](Request& req, Response& resp) {
    resp.set_content_type("text/plain");
    resp << "user " << std::string(*req.route_param("id")) << "\n";
  });
  router.post("/users", [](Request& req, Response& resp) {
    resp.set_status(201);
    resp.set_content_type("text/plain");
    resp << "created " << req.body() << "\n";
  });
  router.get("/files/{path...}", [](Request& req, Response& resp) {
    resp.set_content_type("text/plain");
    resp << "file " << std::string(*req.route_param("path")) << "\n";
  });
  co::cgi::ServerOptions so;
  so.listen = "127.0.0.1:0";
  InProcessServer app(so, router);
  NginxServer nginx(nginx_for(app.address()));
  nginx.start();

  HttpResponse r = http(nginx, "GET", "/users/42");
  CHECK(r.status == 200);
  CHECK(r.body == "user 42\n");
  r = http(nginx, "HEAD", "/users/7");
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  r = http(nginx, "POST", "/users", "name=x");
  CHECK(r.status == 201);
  CHECK(r.body == "created name=x\n");
  r = http(nginx, "GET", "/files/a/b/c.txt");
  CHECK(r.status == 200);
  CHECK(r.body == "file a/b/c.txt\n");
  r = http(nginx, "POST", "/users/42", "x");
  CHECK(r.status == 405);
  CHECK(r.header("Allow") == std::optional<std::string>("GET"));
  r = http(nginx, "DELETE", "/users");
  CHECK(r.status == 405);
  CHECK(r.header("Allow") == std::optional<std::string>("POST"));
  r = http(nginx, "GET", "/nope");
  CHECK(r.status == 404);
  CHECK(r.body == "Not Found\n");
  r = http(nginx, "GET", "/users/42/extra");
  CHECK(r.status == 404);
}

}  // namespace
