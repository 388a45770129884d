// One binary for CGI and FastCGI (cgi/src/run_mode.cpp, cgi/src/cgi_run.cpp): the examples run
// as plain CGI programs under real CGI hosts -- lighttpd with mod_cgi and Apache with mod_cgid
// (tests/support/cgi_host_server.h) -- and directly, with the CGI environment set by hand, for
// the inputs no host sends on purpose; and where the mode choice goes for each sign.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "cgi_host_server.h"
#include "cgi_test_util.h"
#ifdef COFCGI_SLEEP_SQL_EXE
#include "mariadb_server.h"
#endif

namespace {

using namespace cgi_test;
using cofcgi_test::CgiHost;
using cofcgi_test::CgiHostOptions;
using cofcgi_test::CgiHostServer;

// env_run: `env -i VARS... exe args...` -- exactly the environment given, nothing inherited.
std::vector<std::string> env_run(const std::vector<std::string>& vars, const std::string& exe,
                                 const std::vector<std::string>& args = {}) {
  std::vector<std::string> argv = {"/usr/bin/env", "-i"};
  argv.insert(argv.end(), vars.begin(), vars.end());
  argv.push_back(exe);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

const std::vector<std::string> kCgiGet = {"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET",
                                          "SCRIPT_NAME=/cgi-bin/app", "QUERY_STRING=a=1&b=%2F",
                                          "SERVER_PROTOCOL=HTTP/1.1"};

// A CGI program on pipes the test drives itself (run_program closes stdin once the input is
// written and reads stdout to the end; these cases need otherwise).
struct Piped {
  pid_t pid = -1;
  int in = -1, out = -1, err = -1;

  explicit Piped(const std::vector<std::string>& args) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    REQUIRE(::pipe2(in_pipe, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      ::dup2(err_pipe[1], 2);
      ::signal(SIGPIPE, SIG_DFL);  // as a CGI host leaves it: the app must ignore it itself
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    in = in_pipe[1];
    out = out_pipe[0];
    err = err_pipe[0];
  }
  ~Piped() {
    for (int fd : {in, out, err})
      if (fd >= 0) ::close(fd);
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  void close_fd(int& fd) {
    ::close(fd);
    fd = -1;
  }
  bool write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(in, bytes.data(), bytes.size());
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  std::string read_some(std::size_t n) {
    std::string s(n, '\0');
    const ssize_t r = ::read(out, s.data(), n);
    s.resize(r > 0 ? static_cast<std::size_t>(r) : 0);
    return s;
  }
  // wait_exit: the wait status, or nothing if still running at the timeout (then killed).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < until) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return status;
      }
      ::usleep(5000);
    }
    return std::nullopt;
  }
  std::string read_err() {
    std::string all;
    char buf[4096];
    ::fcntl(err, F_SETFL, O_NONBLOCK);
    for (ssize_t n; (n = ::read(err, buf, sizeof buf)) > 0;) all.append(buf, n);
    return all;
  }
};

// chunked: `body` in HTTP/1.1 chunks of 64 KiB.
std::string chunked(std::string_view body) {
  std::string out;
  char size[32];
  while (!body.empty()) {
    const std::size_t n = std::min<std::size_t>(body.size(), 65536);
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    out += size;
    out.append(body.substr(0, n));
    out += "\r\n";
    body.remove_prefix(n);
  }
  return out + "0\r\n\r\n";
}

bool exited_with(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

std::string host_log(const CgiHostServer& host) {
  return read_file(host.error_log_path()) + read_file(host.dir() + "/cgi-stderr.log");
}

}  // namespace

TEST_CASE("hello and echo as CGI programs under lighttpd mod_cgi and Apache mod_cgid") {
  const std::string body = random_bytes(1024 * 1024, 16);
  for (const CgiHost kind : {CgiHost::lighttpd, CgiHost::apache}) {
    CgiHostOptions o;
    o.host = kind;
    o.programs = {{"hello", COFCGI_HELLO_EXE}, {"echo", COFCGI_ECHO_EXE}};
    o.scripts = {{"echo-small", std::string("exec ") + COFCGI_ECHO_EXE + " --max-body 65536"}};
    REQUIRE_MESSAGE(!CgiHostServer::binary(kind).empty(),
                    "lighttpd / apache2 not found: apt-get install lighttpd apache2");
    CgiHostServer host(o);
    const std::string name = host.name();
    CAPTURE(name);
    host.start();
    auto http = [&](const std::string& method, const std::string& target,
                    const std::string& data = {}) {
      return http_request(host.host(), host.port(), method, target, data);
    };

    // A GET with a query, to both.
    HttpResponse r = http("GET", "/cgi-bin/hello?name=world&x=%2F");
    CHECK(r.status == 200);
    CHECK(r.header("Content-Type") == std::optional<std::string>("text/plain"));
    CHECK(r.body == "Hello, World!\n");
    r = http("GET", "/cgi-bin/echo/a/b?c=d&e=%2F");
    CHECK(r.status == 200);
    CHECK(r.header("Content-Type") == std::optional<std::string>("text/plain"));
    CHECK(r.body == "GET /cgi-bin/echo/a/b?c=d&e=%2F\n");

    // HEAD: the host sends no body; a form POST to hello (the nginx test's checks).
    r = http("HEAD", "/cgi-bin/hello");
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    r = http("HEAD", "/cgi-bin/echo/head");
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    r = http("POST", "/cgi-bin/hello", "a=1&b=2");
    CHECK(r.status == 200);
    CHECK(r.body == "Hello, World!\n");

    // A query with no '=' (RFC 3875 4.4): Apache passes its words as arguments; they are not
    // options (not even these).
    r = http("GET", "/cgi-bin/echo?x+y%2Fz");
    CHECK(r.status == 200);
    CHECK(r.body == "GET /cgi-bin/echo?x+y%2Fz\n");
    r = http("GET", "/cgi-bin/echo-small?--help");
    CHECK(r.status == 200);
    CHECK(r.body == "GET /cgi-bin/echo-small?--help\n");
    r = http("GET", "/cgi-bin/hello?--max-body+1");
    CHECK(r.body == "Hello, World!\n");

    // 1 MB echoed byte for byte. Under mod_cgid this deadlocks unless the app reads the whole
    // body before it writes more than a pipe's worth.
    const auto t0 = std::chrono::steady_clock::now();
    r = http("POST", "/cgi-bin/echo", body);
    MESSAGE(name << ": 1 MB up and back through echo as CGI in " << ms_since(t0) << " ms");
    REQUIRE(r.status == 200);
    const std::string head = "POST /cgi-bin/echo\n";
    REQUIRE(r.body.size() == head.size() + body.size());
    CHECK(r.body.compare(0, head.size(), head) == 0);
    CHECK(fnv1a64(std::string_view(r.body).substr(head.size())) == fnv1a64(body));
    // Chunked: Apache passes the body with no CONTENT_LENGTH, up to EOF on stdin (lighttpd
    // buffers it and sets CONTENT_LENGTH).
    r = http_request(host.host(), host.port(), "POST", "/cgi-bin/echo", chunked(body),
                     {{"Transfer-Encoding", "chunked"}});
    REQUIRE(r.status == 200);
    REQUIRE(r.body.size() == head.size() + body.size());
    CHECK(fnv1a64(std::string_view(r.body).substr(head.size())) == fnv1a64(body));
    // hello does not read its body; it must still take it before it answers.
    r = http("POST", "/cgi-bin/hello", body);
    CHECK(r.status == 200);
    CHECK(r.body == "Hello, World!\n");
    r = http("POST", "/cgi-bin/echo", "");
    CHECK(r.status == 200);
    CHECK(r.body == "POST /cgi-bin/echo\n");

    // Over the app's --max-body (the host's own limit is 64 MiB): the app's 413, every time
    // (under mod_cgid an app that exits with its body unread loses the answer to a reset).
    for (int i = 0; i < 10; ++i) {
      r = http("POST", "/cgi-bin/echo-small", random_bytes(100 * 1024, 17));
      CHECK(r.status == 413);
      CHECK(r.body == "Payload Too Large\n");
    }
    r = http("POST", "/cgi-bin/echo-small", "small");
    CHECK(r.status == 200);
    CHECK(r.body == "POST /cgi-bin/echo-small\nsmall");
    CHECK_MESSAGE(host_log(host).find("cofcgi error") == std::string::npos, host_log(host));
    host.stop();
  }
}

TEST_CASE("a direct CGI run: the response on stdout, status 0; the handler in a coroutine") {
  RunResult r = run_program(env_run(kCgiGet, COFCGI_HELLO_EXE), "", 20s);
  CHECK(exited_with(r.status, 0));
  CHECK(r.out ==
        "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
        "Hello, World!\n");
  CHECK(r.err.empty());  // a good request logs nothing into the host's error log

  // No REQUEST_URI (RFC 3875 has none): SCRIPT_NAME + PATH_INFO + ?QUERY_STRING.
  std::vector<std::string> vars = kCgiGet;
  vars.push_back("PATH_INFO=/more");
  r = run_program(env_run(vars, COFCGI_ECHO_EXE), "", 20s);
  CHECK(exited_with(r.status, 0));
  CHECK(parse_cgi_response(r.out).body == "GET /cgi-bin/app/more?a=1&b=%2F\n");

  // A POST with its body on stdin.
  vars = {"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=PUT", "REQUEST_URI=/up", "CONTENT_LENGTH=5"};
  r = run_program(env_run(vars, COFCGI_ECHO_EXE), "12345", 20s);
  CHECK(exited_with(r.status, 0));
  CHECK(parse_cgi_response(r.out).body == "PUT /up\n12345");

  // co::sleep_for parks the handler's coroutine: the scheduler runs as under FastCGI.
  vars = {"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "REQUEST_URI=/slow?ms=50",
          "QUERY_STRING=ms=50"};
  r = run_program(env_run(vars, COFCGI_TEST_SERVER_EXE), "", 20s);
  CHECK(exited_with(r.status, 0));
  CHECK(parse_cgi_response(r.out).body == "slow done 50\n");
}

TEST_CASE("a direct CGI run: errors as under FastCGI (500 with a log line, 413, header check)") {
  std::vector<std::string> vars = {"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET",
                                   "REQUEST_URI=/throw"};
  RunResult r = run_program(env_run(vars, COFCGI_TEST_SERVER_EXE), "", 20s);
  CHECK(exited_with(r.status, 0));  // the response went out whole; it is a 500
  CgiResponse c = parse_cgi_response(r.out);
  CHECK(c.status == 500);
  CHECK(c.body == "Internal Server Error\n");
  CHECK_MESSAGE(
      r.err.find("handler threw for \"GET /throw\": thrown on purpose") != std::string::npos,
      r.err);

  vars.back() = "REQUEST_URI=/bad-header";
  r = run_program(env_run(vars, COFCGI_TEST_SERVER_EXE), "", 20s);
  c = parse_cgi_response(r.out);
  CHECK(c.status == 500);
  CHECK(r.out.find("Injected") == std::string::npos);
  CHECK(r.err.find("invalid HTTP header") != std::string::npos);

  // Thrown after part of the response went out: it cannot be completed; status 1, a log line.
  vars = {"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "REQUEST_URI=/throw-after-stream",
          "QUERY_STRING=kb=40"};
  r = run_program(env_run(vars, COFCGI_TEST_SERVER_EXE), "", 20s);
  CHECK(exited_with(r.status, 1));
  CHECK(parse_cgi_response(r.out).body == std::string(40 * 1024, 'x'));
  CHECK(r.err.find("was cut short after 40960 body bytes") != std::string::npos);

  // Over --max-body, announced by CONTENT_LENGTH: 413 at once; the body is read and dropped
  // (under mod_cgid exiting with unread stdin resets the socket the answer is on).
  vars = {"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=POST", "REQUEST_URI=/big",
          "CONTENT_LENGTH=100000"};
  r = run_program(env_run(vars, COFCGI_ECHO_EXE, {"--max-body", "1000"}), random_bytes(100000, 19),
                  20s);
  CHECK(exited_with(r.status, 0));
  c = parse_cgi_response(r.out);
  CHECK(c.status == 413);
  CHECK(c.body == "Payload Too Large\n");
  CHECK(r.err.find("body over max_body") != std::string::npos);

  // Params over --max-params-bytes do not exist as a flag; a long environment value does:
  // over max_params_bytes (64 KiB) -> 431.
  vars = {"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "REQUEST_URI=/",
          "HTTP_X_BIG=" + std::string(70 * 1024, 'a')};
  r = run_program(env_run(vars, COFCGI_HELLO_EXE), "", 20s);
  CHECK(exited_with(r.status, 0));
  CHECK(parse_cgi_response(r.out).status == 431);
}

TEST_CASE("a direct CGI run: bad input ends with a clear log line and status 1, never a hang") {
  SUBCASE("no REQUEST_METHOD") {
    const RunResult r =
        run_program(env_run({"GATEWAY_INTERFACE=CGI/1.1"}, COFCGI_HELLO_EXE), "", 20s);
    CHECK(exited_with(r.status, 1));
    CHECK(parse_cgi_response(r.out).status == 400);
    CHECK(r.err.find("REQUEST_METHOD is not set") != std::string::npos);
  }
  SUBCASE("a CONTENT_LENGTH that is not a number") {
    const RunResult r = run_program(
        env_run({"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=POST", "CONTENT_LENGTH=12x"},
                COFCGI_ECHO_EXE),
        "", 20s);
    CHECK(exited_with(r.status, 1));
    CHECK(parse_cgi_response(r.out).status == 400);
    CHECK(r.err.find("CONTENT_LENGTH is not a number") != std::string::npos);
  }
  SUBCASE("CONTENT_LENGTH larger than stdin delivers: stdin closed (the host died)") {
    const auto t0 = std::chrono::steady_clock::now();
    const RunResult r = run_program(
        env_run({"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=POST", "CONTENT_LENGTH=100"},
                COFCGI_ECHO_EXE),
        "only 20 bytes here..", 20s);
    CHECK(exited_with(r.status, 1));
    CHECK(r.out.empty());
    CHECK_MESSAGE(r.err.find("stdin ended after 20 request body bytes of 100 (CONTENT_LENGTH)") !=
                      std::string::npos,
                  r.err);
    CHECK(ms_since(t0) < loose(5000ms).count());
  }
  SUBCASE("CONTENT_LENGTH larger than stdin delivers: stdin stays open -> body_timeout") {
    Piped p(env_run({"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=POST", "CONTENT_LENGTH=100"},
                    COFCGI_ECHO_EXE, {"--body-timeout", "300"}));
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(p.write_all("twenty bytes so far."));
    const std::optional<int> status = p.wait_exit(loose(5000ms));
    REQUIRE_MESSAGE(status.has_value(), "the CGI run hangs on a stalled stdin");
    CHECK(exited_with(*status, 1));
    CHECK(ms_since(t0) >= 250);
    const std::string err = p.read_err();
    CHECK_MESSAGE(
        err.find("no request body bytes on stdin for 300 ms after 20 of 100") != std::string::npos,
        err);
  }
  SUBCASE("stdout closed by the host mid-response: a log line, status 1, no SIGPIPE death") {
    const std::string body = random_bytes(2 * 1024 * 1024, 18);
    Piped p(env_run({"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=POST", "REQUEST_URI=/e",
                     "CONTENT_LENGTH=" + std::to_string(body.size())},
                    COFCGI_ECHO_EXE));
    REQUIRE(p.write_all(body));  // the app reads it all before its first write
    CHECK(p.read_some(1000).rfind("Status: 200", 0) == 0);
    p.close_fd(p.out);
    const std::optional<int> status = p.wait_exit(loose(10000ms));
    REQUIRE(status.has_value());
    CHECK_MESSAGE(exited_with(*status, 1), "wait status " << *status);
    const std::string err = p.read_err();
    CHECK_MESSAGE(err.find("stdout closed by the web server after") != std::string::npos, err);
  }
}

TEST_CASE("the run mode: --cgi, --listen, GATEWAY_INTERFACE, and the default says why") {
  TempDir dir;
  SUBCASE("--cgi without GATEWAY_INTERFACE: a CGI run") {
    const RunResult r = run_program(
        env_run({"REQUEST_METHOD=GET", "REQUEST_URI=/x"}, COFCGI_HELLO_EXE, {"--cgi"}), "", 20s);
    CHECK(exited_with(r.status, 0));
    CHECK(parse_cgi_response(r.out).body == "Hello, World!\n");
  }
  SUBCASE("--listen wins over GATEWAY_INTERFACE: FastCGI") {
    ::setenv("GATEWAY_INTERFACE", "CGI/1.1", 1);
    App app = start_app(COFCGI_HELLO_EXE, "127.0.0.1:0", {}, dir.path() + "/hello.log");
    ::unsetenv("GATEWAY_INTERFACE");
    FcgiConn conn(app.address);
    const FcgiReply reply = conn.request(1, cgi_params("GET", "/"));
    CHECK(reply.complete);
    CHECK(parse_cgi_response(reply.out).body == "Hello, World!\n");
  }
  SUBCASE("a listening fd 0 wins over GATEWAY_INTERFACE: FastCGI on fd 0") {
    // spawn-fcgi started from a CGI script's environment inherits GATEWAY_INTERFACE.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(listener, 0);  // dup2 clears FD_CLOEXEC on fd 0
      ::execl("/usr/bin/env", "env", "-i", "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET",
              COFCGI_HELLO_EXE, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(listener);
    FcgiReply reply;
    for (int attempt = 0; attempt < 100 && !reply.complete; ++attempt) {
      try {
        FcgiConn conn("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
        reply = conn.request(1, cgi_params("GET", "/"), {}, true, 5s);
      } catch (const std::exception&) {
        std::this_thread::sleep_for(50ms);
      }
    }
    CHECK(reply.complete);
    CHECK(parse_cgi_response(reply.out).body == "Hello, World!\n");
    ::kill(child, SIGTERM);
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(exited_with(status, 0));
  }
  SUBCASE("nothing given: the default address, and the log says why") {
    Child child({"/usr/bin/env", "-i", COFCGI_HELLO_EXE}, dir.path() + "/default.log");
    const auto until = std::chrono::steady_clock::now() + loose(10000ms);
    while (child.log().find("GATEWAY_INTERFACE is not set") == std::string::npos &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    const std::string log = child.log();
    CHECK_MESSAGE(log.find("FastCGI on the default address: no --listen, fd 0 is not a listening "
                           "socket and GATEWAY_INTERFACE is not set") != std::string::npos,
                  log);
    child.signal(SIGTERM);
    child.wait_exit(loose(10000ms));
  }
}

#ifdef COFCGI_SLEEP_SQL_EXE
TEST_CASE("sleep_sql as a CGI program: its MariaDB call parks the handler's coroutine (hooks)") {
  cofcgi_test::MariadbServer db;
  db.start();
  const std::vector<std::string> vars = {"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET",
                                         "REQUEST_URI=/cgi-bin/sleep_sql?s=0.2",
                                         "QUERY_STRING=s=0.2"};
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r =
      run_program(env_run(vars, COFCGI_SLEEP_SQL_EXE,
                          {"--mysql-socket", db.socket_path(), "--mysql-user", db.user(),
                           "--mysql-password", db.password(), "--pool", "1"}),
                  "", 30s);
  CHECK_MESSAGE(exited_with(r.status, 0), r.err);
  const CgiResponse c = parse_cgi_response(r.out);
  CHECK(c.status == 200);
  CHECK(c.body == "SLEEP(0.2) = 0\n");
  CHECK(ms_since(t0) >= 200);
}
#endif
