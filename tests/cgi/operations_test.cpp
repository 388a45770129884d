// Running a cofcgi app in production: what an operator sees. A response cut short must look
// cut short to the HTTP client; a stack overflow names the request and the option that sets
// the stack size; the unix socket's mode, owner and group come from the command line; an
// abandoned request is not logged as 200; SIGHUP does not kill the server; --help and
// --version answer. The apps run as child processes (tests/cgi/test_server.cpp, the
// examples), nginx in front where the client's view matters (tests/support/nginx_server.h).
#include <doctest/doctest.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cgi_test_util.h"
#include "nginx_server.h"

namespace {

using namespace cgi_test;
using cofcgi_test::NginxServer;
using cofcgi_test::NginxServerOptions;
using Clock = std::chrono::steady_clock;

// wait_for_log polls a child's log until `pred` holds or the child exits or the timeout
// passes; returns the log as it was last read.
template <typename Pred>
std::string wait_for_log(Child& child, Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::string log = child.log();
    if (pred(log) || Clock::now() >= deadline) return log;
    std::this_thread::sleep_for(10ms);
  }
}

// log_line: the first line of `log` that contains `needle`, or "".
std::string log_line(const std::string& log, const std::string& needle) {
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) return line;
  }
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string describe_status(int status) {
  if (status == -1) return "killed at the timeout";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// 1. A handler that throws after its headers and part of its body went out: the server
// cannot send a 500 any more, and ending the request normally (empty STDOUT, END_REQUEST)
// makes nginx terminate the chunked body: the client takes a truncated page for a whole
// one. The server must end the FastCGI connection without END_REQUEST instead (nginx then
// closes the client connection without the last chunk) and log it.
TEST_CASE("a handler that throws after streaming 40 KB: the HTTP client sees the body cut short") {
  REQUIRE_MESSAGE(!NginxServer::nginx_path().empty(), "nginx not found: apt-get install nginx");
  TempDir dir;
  App app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0", {}, dir.path() + "/server.log");
  NginxServerOptions o;
  o.upstream = app.address;
  NginxServer nginx(o);
  nginx.start();

  const std::string target = "/throw-after-stream?kb=40";
  const RawHttpResponse r = http_get_raw(nginx.host(), nginx.port(), target);
  MESSAGE("status " << r.status << ", chunked " << r.chunked << ", " << r.raw_body.size()
                    << " raw body bytes, terminated " << r.chunked_complete);
  CHECK(r.status == 200);  // the headers went out before the throw
  CHECK(r.body.size() <= 40 * 1024);
  CHECK(r.body.find_first_not_of('x') == std::string::npos);
  // The client must be able to tell: no Content-Length it could check, so the chunked body
  // must not be terminated (curl then exits 18, "transfer closed with outstanding data").
  CHECK(!r.header("Content-Length").has_value());
  REQUIRE(r.chunked);
  CHECK_MESSAGE(!r.chunked_complete,
                "the truncated response ended with the zero-length chunk, as if it were whole "
                "(the server sent END_REQUEST after the handler threw)");

  // The server log names the request that was cut short.
  const std::string log = wait_for_log(
      *app.child, [](const std::string& l) { return contains(l, "/throw-after-stream"); }, 10s);
  CHECK_MESSAGE(contains(log, "GET /throw-after-stream?kb=40"), log);

  // nginx and the app are fine for the next request.
  for (int i = 0; i < 3; ++i) {
    const HttpResponse next = http_request(nginx.host(), nginx.port(), "GET", "/after");
    CHECK(next.status == 200);
    CHECK(next.body == "ok /after\n");
  }
}

// 2. A handler overflowing its coroutine stack: the process dies (containing it is another
// matter), and the report on stderr must say which request did it and which option sets
// the size -- ServerOptions::stack_size / --stack-size, not the runtime's co::Options.
TEST_CASE("a stack overflow in a handler is reported with the request and the option to raise") {
  const char* pass = std::getenv("COFCGI_TEST_PASS");
  if (pass != nullptr && (std::string(pass) == "sanitize" || std::string(pass) == "tsan")) {
    MESSAGE("skipped under COFCGI_TEST_PASS=" << pass << ": the sanitizer reports overflows");
    return;
  }
  TempDir dir;
  App app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0", {}, dir.path() + "/server.log");
  FcgiConn conn(app.address);
  conn.send(whole_request(1, cgi_params("GET", "/overflow?depth=100000")));
  const auto status = app.child->wait_exit(20s);
  const std::string log = app.child->log();
  REQUIRE_MESSAGE(status.has_value(), "the server survived a 100 MB recursion?\n" << log);
  MESSAGE("the server: " << describe_status(*status));
  const std::string report = log_line(log, "overflow");
  INFO("log:\n" << log);
  REQUIRE_MESSAGE(!report.empty(), "no overflow report on stderr");
  CHECK_MESSAGE(contains(log, "/overflow"), "the report does not name the URI");
  CHECK_MESSAGE(contains(log, "GET"), "the report does not name the method");
  CHECK_MESSAGE(contains(log, "ServerOptions::stack_size"),
                "the report does not name the option an app sets");
  CHECK_MESSAGE(contains(log, "--stack-size"), "the report does not name the flag");
  CHECK_MESSAGE(contains(report, "coroutine"), "the report does not name the coroutine");
}

// A connect to `path` as uid/gid (a forked child that drops to them) followed by one
// FastCGI request: 0 when the answer came, else the errno of what failed (or 255).
int request_as(const std::string& path, uid_t uid, gid_t gid) {
  const std::string request = whole_request(1, cgi_params("GET", "/as-nobody"), {}, false);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(254);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ::_exit(errno & 0xff);
    if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size()))
      ::_exit(errno & 0xff);
    pollfd p{fd, POLLIN, 0};
    char buf[8];
    if (::poll(&p, 1, 10000) != 1 || ::read(fd, buf, sizeof buf) <= 0) ::_exit(255);
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

// 5. nginx's workers run as another user than the app (www-data, nobody): with the default
// 0660 socket owned by the app's user they get EACCES and nginx answers 502. The socket's
// mode, owner and group must be settable from the command line (php-fpm's listen.mode,
// listen.owner, listen.group).
TEST_CASE("--socket-mode, --socket-owner, --socket-group set the unix socket's permissions") {
  TempDir dir;
  // The directory must be searchable by the other user (TempDir makes it 0700).
  REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
  const bool root = ::geteuid() == 0;
  const passwd* nobody = ::getpwnam("nobody");
  const group* nogroup = ::getgrnam("nogroup");
  REQUIRE_MESSAGE(nobody != nullptr, "no user 'nobody'");
  REQUIRE_MESSAGE(nogroup != nullptr, "no group 'nogroup'");
  const uid_t nobody_uid = nobody->pw_uid;
  const gid_t nogroup_gid = nogroup->gr_gid;

  if (root) {
    // The defect itself: by default another user cannot connect.
    const std::string plain = dir.path() + "/plain.sock";
    App app = start_app(COFCGI_HELLO_EXE, "unix:" + plain, {}, dir.path() + "/plain.log");
    CHECK(request_as(plain, nobody_uid, nogroup_gid) == EACCES);
  }

  const std::string sock = dir.path() + "/app.sock";
  std::vector<std::string> args = {"--socket-mode", "0666"};
  if (root) {
    args.insert(args.end(), {"--socket-owner", "nobody", "--socket-group", "nogroup"});
  }
  std::optional<App> app;
  try {
    app.emplace(start_app(COFCGI_HELLO_EXE, "unix:" + sock, args, dir.path() + "/app.log"));
  } catch (const std::exception& e) {
    FAIL("hello does not take the socket options: " << std::string(e.what()));
  }
  struct stat st {};
  REQUIRE(::stat(sock.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0666);
  if (!root) {
    MESSAGE("not root: owner and group (chown) not tested");
    return;
  }
  CHECK(st.st_uid == nobody_uid);
  CHECK(st.st_gid == nogroup_gid);
  // What nginx's workers do when they run as nobody: connect and get an answer.
  CHECK(request_as(sock, nobody_uid, nogroup_gid) == 0);
}

// 6. nginx gives up on a request (client gone: nginx logs 499) by closing the connection;
// a FastCGI client may send ABORT_REQUEST. The access log must not call that request a
// 200: it was never answered.
TEST_CASE("an aborted request is logged as aborted in the access log, not as 200") {
  TempDir dir;
  App app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0", {"--access-log"},
                      dir.path() + "/server.log");
  {
    FcgiConn by_abort(app.address);
    by_abort.send(whole_request(1, cgi_params("GET", "/slow?ms=1500&via=abort")));
    FcgiConn by_close(app.address);
    by_close.send(whole_request(1, cgi_params("GET", "/slow?ms=1500&via=close")));
    // Both handlers are running once a third request, sent after them, was answered.
    FcgiConn probe(app.address);
    REQUIRE(probe.request(1, cgi_params("GET", "/probe")).complete);
    by_abort.send(record(kAbortRequest, 1, {}));
    const FcgiReply ended = by_abort.read_reply(1, 10s);
    CHECK(ended.complete);  // ABORT_REQUEST is answered with END_REQUEST
    // Leaving the scope closes both connections: by_close's request is abandoned.
  }
  const std::string log = wait_for_log(
      *app.child,
      [](const std::string& l) {
        return contains(l, "/slow?ms=1500&via=abort") && contains(l, "/slow?ms=1500&via=close");
      },
      15s);
  INFO("log:\n" << log);
  for (const char* via : {"abort", "close"}) {
    const std::string uri = std::string("/slow?ms=1500&via=") + via;
    CAPTURE(uri);
    const std::string line = log_line(log, "GET " + uri);
    REQUIRE_MESSAGE(!line.empty(), "no access log line for " << uri);
    CHECK_MESSAGE(!contains(line, " 200 "), line);
    CHECK_MESSAGE(contains(line, "aborted"), line);
  }
  // A request that was answered is still logged with its status.
  CHECK(contains(log_line(log, "GET /probe"), " 200 "));
}

// 7. SIGHUP (a terminal closing, `systemctl reload`, logrotate's postrotate) must not kill
// the server silently and leave its socket file behind: until reload exists it is logged
// and ignored.
TEST_CASE("SIGHUP does not kill the server: logged, ignored, still serving") {
  TempDir dir;
  const std::string sock = dir.path() + "/app.sock";
  App app = start_app(COFCGI_TEST_SERVER_EXE, "unix:" + sock, {"--threads", "2"},
                      dir.path() + "/server.log");
  {
    FcgiConn conn(app.address);
    REQUIRE(conn.request(1, cgi_params("GET", "/before")).complete);
  }
  app.child->signal(SIGHUP);
  // Handled once the log says so; dead if the process exits first.
  const auto deadline = Clock::now() + 10s;
  std::optional<int> died;
  std::string log;
  for (;;) {
    died = app.child->wait_exit(0ms);
    log = app.child->log();
    if (died || contains(log, "SIGHUP") || contains(log, "Hangup") || Clock::now() >= deadline)
      break;
    std::this_thread::sleep_for(10ms);
  }
  INFO("log:\n" << log);
  REQUIRE_MESSAGE(!died.has_value(), "SIGHUP ended the server: "
                                         << describe_status(*died) << "; socket file left behind: "
                                         << (::access(sock.c_str(), F_OK) == 0));
  CHECK_MESSAGE(contains(log, "SIGHUP"), "SIGHUP not logged");
  CHECK(::access(sock.c_str(), F_OK) == 0);
  FcgiConn conn(app.address);
  const FcgiReply reply = conn.request(1, cgi_params("GET", "/after-hup"));
  REQUIRE(reply.complete);
  CHECK(parse_cgi_response(reply.out).body == "ok /after-hup\n");
  CHECK_FALSE(app.child->wait_exit(0ms).has_value());
  // And SIGTERM still drains as before.
  app.child->signal(SIGTERM);
  const auto status = app.child->wait_exit(10s);
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

std::vector<std::string> cofcgi_programs() {
  std::vector<std::string> exes = {COFCGI_HELLO_EXE, COFCGI_ECHO_EXE, COFCGI_TEST_SERVER_EXE};
#ifdef COFCGI_SLEEP_SQL_EXE
  exes.push_back(COFCGI_SLEEP_SQL_EXE);
#endif
  return exes;
}

// 14. --help and --version: an operator's first two commands.
TEST_CASE("--help and --version print to stdout and exit 0") {
  for (const std::string& exe : cofcgi_programs()) {
    CAPTURE(exe);
    {
      const RunResult help = run_program({exe, "--help"}, {}, 10s);
      INFO("--help: " << describe_status(help.status) << "\nstdout:\n"
                      << help.out << "\nstderr:\n"
                      << help.err);
      CHECK(help.status == 0);
      CHECK(contains(help.out, "--listen"));
      CHECK(contains(help.out, "--threads"));
    }
    {
      const RunResult version = run_program({exe, "--version"}, {}, 10s);
      INFO("--version: " << describe_status(version.status) << "\nstdout:\n"
                         << version.out << "\nstderr:\n"
                         << version.err);
      CHECK(version.status == 0);
      CHECK(contains(version.out, COFCGI_PROJECT_VERSION));
    }
  }
}

}  // namespace
