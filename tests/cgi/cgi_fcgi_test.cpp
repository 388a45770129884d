// The examples (examples/hello.cpp, examples/echo.cpp) as child processes, on TCP and on a
// unix socket, driven by the real libfcgi client: `cgi-fcgi -bind -connect ADDR` (Debian's
// libfcgi-bin) under `env -i` with the CGI variables set, exactly as a CGI gateway runs it.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "cgi_test_util.h"

namespace {

using namespace cgi_test;

// cgi-fcgi takes HOST:PORT, or a path for a unix socket.
std::string cgi_fcgi_address(const std::string& address) {
  return address.rfind("unix:", 0) == 0 ? address.substr(5) : address;
}

RunResult cgi_fcgi(const std::string& address, const Pairs& env, const std::string& input = {}) {
  REQUIRE_MESSAGE(::access(COFCGI_CGI_FCGI_EXE, X_OK) == 0,
                  "cgi-fcgi not found ('" COFCGI_CGI_FCGI_EXE "'): apt-get install libfcgi-bin");
  std::vector<std::string> argv = {"/usr/bin/env", "-i"};
  for (const auto& [name, value] : env) argv.push_back(name + "=" + value);
  argv.insert(argv.end(), {COFCGI_CGI_FCGI_EXE, "-bind", "-connect", cgi_fcgi_address(address)});
  return run_program(argv, input, 30s);
}

Pairs cgi_env(const std::string& method, const std::string& uri, long long content_length = -1) {
  Pairs env = cgi_params(method, uri, content_length);
  env.emplace_back("SERVER_NAME", "localhost");
  env.emplace_back("SERVER_PORT", "80");
  if (content_length >= 0) env.emplace_back("CONTENT_TYPE", "application/octet-stream");
  return env;
}

std::string plain_response(const std::string& body) {
  return "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

void check_exit_ok(const RunResult& r) {
  CHECK(r.status == 0);  // exited 0: cgi-fcgi exits with END_REQUEST's app status
  CHECK(r.err.empty());
}

struct Listen {
  const char* name;
  bool unix_socket;
};

TEST_CASE("hello answers cgi-fcgi exactly, on TCP and on a unix socket") {
  for (const Listen l : {Listen{"tcp", false}, Listen{"unix", true}}) {
    const std::string variant = l.name;
    CAPTURE(variant);
    TempDir dir;
    const std::string listen = l.unix_socket ? "unix:" + dir.path() + "/hello.sock" : "127.0.0.1:0";
    App app = start_app(COFCGI_HELLO_EXE, listen, {"--threads", "2"}, dir.path() + "/hello.log");
    if (l.unix_socket) CHECK(app.address == listen);
    for (const char* method : {"GET", "POST", "HEAD"}) {
      const std::string method_name = method;
      CAPTURE(method_name);
      const RunResult r = cgi_fcgi(
          app.address, cgi_env(method, "/some/path?x=1", std::string(method) == "POST" ? 0 : -1));
      check_exit_ok(r);
      CHECK(r.out == plain_response("Hello, World!\n"));
    }
    // Several clients at once.
    std::vector<std::thread> clients;
    std::vector<RunResult> results(8);
    for (int i = 0; i < 8; ++i) {
      clients.emplace_back(
          [&, i] { results[i] = cgi_fcgi(app.address, cgi_env("GET", "/" + std::to_string(i))); });
    }
    for (auto& t : clients) t.join();
    for (const auto& r : results) CHECK(r.out == plain_response("Hello, World!\n"));
    app.child->signal(SIGTERM);
    const auto status = app.child->wait_exit(10s);
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    if (l.unix_socket)
      CHECK(::access((dir.path() + "/hello.sock").c_str(), F_OK) != 0);  // removed at exit
  }
}

TEST_CASE("echo answers METHOD URI and the body byte for byte, on TCP and on a unix socket") {
  for (const Listen l : {Listen{"tcp", false}, Listen{"unix", true}}) {
    const std::string variant = l.name;
    CAPTURE(variant);
    TempDir dir;
    const std::string listen = l.unix_socket ? "unix:" + dir.path() + "/echo.sock" : "127.0.0.1:0";
    App app =
        start_app(COFCGI_ECHO_EXE, listen, {"--max-body", "4000000"}, dir.path() + "/echo.log");

    RunResult r = cgi_fcgi(app.address, cgi_env("GET", "/path/to?a=1&b=%20"));
    check_exit_ok(r);
    CHECK(r.out == plain_response("GET /path/to?a=1&b=%20\n"));

    // Every byte value, through stdin with CONTENT_LENGTH.
    std::string body;
    for (int round = 0; round < 4; ++round) {
      for (int b = 0; b < 256; ++b) body.push_back(static_cast<char>(b));
    }
    r = cgi_fcgi(app.address, cgi_env("POST", "/upload", static_cast<long long>(body.size())),
                 body);
    check_exit_ok(r);
    CHECK(r.out == plain_response("POST /upload\n" + body));

    // Bigger than one record and than the response buffer: streamed (no Content-Length).
    const std::string big = random_bytes(3000000, 11);
    r = cgi_fcgi(app.address, cgi_env("PUT", "/big", static_cast<long long>(big.size())), big);
    check_exit_ok(r);
    const CgiResponse resp = parse_cgi_response(r.out);
    CHECK(resp.status == 200);
    CHECK(resp.header("Content-Type") == std::optional<std::string>("text/plain"));
    CHECK(resp.body.size() == big.size() + 9);
    CHECK(resp.body.substr(0, 9) == "PUT /big\n");
    CHECK(fnv1a64(resp.body.substr(9)) == fnv1a64(big));

    // An empty POST.
    r = cgi_fcgi(app.address, cgi_env("POST", "/empty", 0));
    check_exit_ok(r);
    CHECK(r.out == plain_response("POST /empty\n"));
  }
}

TEST_CASE("echo answers 413 to a body over --max-body") {
  TempDir dir;
  App app =
      start_app(COFCGI_ECHO_EXE, "127.0.0.1:0", {"--max-body", "1000"}, dir.path() + "/echo.log");
  const std::string body(1001, 'b');
  RunResult r = cgi_fcgi(app.address, cgi_env("POST", "/too-big", 1001), body);
  CHECK(r.status == 0);
  const CgiResponse resp = parse_cgi_response(r.out);
  CHECK(resp.status == 413);
  CHECK(r.out.rfind("Status: 413 Payload Too Large\r\n", 0) == 0);
  // At the limit it is echoed.
  r = cgi_fcgi(app.address, cgi_env("POST", "/fits", 1000), body.substr(0, 1000));
  check_exit_ok(r);
  CHECK(r.out == plain_response("POST /fits\n" + body.substr(0, 1000)));
}

}  // namespace
