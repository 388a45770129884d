// The logs of a running server: the error log's line format (--error-log, --log-level), the
// access log's tokens (--access-log PATH, --access-format) for real requests over a socket,
// and both files reopened on SIGUSR1 after logrotate-style renames with no line lost.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cgi_test_util.h"

using namespace cgi_test;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// wait_for_text: until the file holds `needle` (true) or the timeout (false).
bool wait_for_text(const std::string& path, const std::string& needle,
                   std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (read_file(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// The access log is written after the response went out: wait for the line count.
bool wait_for_lines(const std::string& path, std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (lines_of(read_file(path)).size() >= n) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// matches_shape: `text` has the shape of `pattern`, where '9' is one digit, "9+" one or more
// digits and any other character itself (std::regex trips GCC 12's warnings under ASan).
bool matches_shape(std::string_view text, std::string_view pattern) {
  std::size_t t = 0;
  for (std::size_t p = 0; p < pattern.size(); ++p) {
    const bool digit = pattern[p] == '9';
    const bool many = digit && p + 1 < pattern.size() && pattern[p + 1] == '+';
    if (t >= text.size()) return false;
    if (digit ? !std::isdigit(static_cast<unsigned char>(text[t])) : text[t] != pattern[p])
      return false;
    ++t;
    if (many) {
      while (t < text.size() && std::isdigit(static_cast<unsigned char>(text[t]))) ++t;
      ++p;
    }
  }
  return t == text.size();
}

// between: the text after `open` up to the next `close` ("" when `open` is missing).
std::string_view between(std::string_view line, std::string_view open, std::string_view close) {
  const std::size_t at = line.find(open);
  if (at == std::string_view::npos) return {};
  const std::size_t from = at + open.size();
  return line.substr(from, line.find(close, from) - from);
}

// is_log_line: "2026-12-05T00:41:12.345Z [PID] cofcgi LEVEL: message".
bool is_log_line(const std::string& line, const std::string& pid_part) {
  if (line.size() < 25 ||
      !matches_shape(std::string_view(line).substr(0, 25), "9999-99-99T99:99:99.999Z "))
    return false;
  if (line.compare(25, pid_part.size(), pid_part) != 0) return false;
  const std::string_view rest = std::string_view(line).substr(25 + pid_part.size());
  for (const char* level : {"debug: ", "info: ", "warning: ", "error: "}) {
    if (rest.rfind(level, 0) == 0) return rest.size() > std::string_view(level).size();
  }
  return false;
}

}  // namespace

TEST_CASE("error log lines carry an ISO 8601 UTC time with milliseconds, the pid and the level") {
  TempDir dir;
  const std::string log = dir.path() + "/error.log";
  // The child's own stderr goes to the same file (start_app reads the listening line there).
  App app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0", {"--error-log", log}, log);
  {
    FcgiConn conn(app.address);
    // The test server's /throw route makes the handler throw: an error line.
    REQUIRE(conn.request(1, cgi_params("GET", "/throw")).complete);
  }
  REQUIRE(wait_for_text(log, "cofcgi error: handler threw", 10s));
  const std::string pid = "[" + std::to_string(app.child->pid()) + "] cofcgi ";
  const std::vector<std::string> lines = lines_of(read_file(log));
  REQUIRE(lines.size() >= 2);
  for (const std::string& line : lines) CHECK_MESSAGE(is_log_line(line, pid), line);
  // The time is now, in UTC.
  char today[16];
  const time_t now = time(nullptr);
  tm parts{};
  gmtime_r(&now, &parts);
  strftime(today, sizeof today, "%Y-%m-%dT", &parts);
  CHECK(lines.back().rfind(today, 0) == 0);
}

TEST_CASE("--log-level warning leaves out the info lines") {
  TempDir dir;
  const std::string log = dir.path() + "/error.log";
  Child child({COFCGI_TEST_SERVER_EXE, "--listen", "unix:" + dir.path() + "/s.sock", "--error-log",
               log, "--log-level", "warning"},
              dir.path() + "/stdio.log");
  {
    // Connecting works once it listens; the /throw error line is then the first one.
    const auto deadline = Clock::now() + 20s;
    std::unique_ptr<FcgiConn> conn;
    while (!conn && Clock::now() < deadline) {
      try {
        conn = std::make_unique<FcgiConn>("unix:" + dir.path() + "/s.sock");
      } catch (const std::exception&) {
        std::this_thread::sleep_for(20ms);
      }
    }
    REQUIRE(conn);
    REQUIRE(conn->request(1, cgi_params("GET", "/throw")).complete);
  }
  REQUIRE(wait_for_text(log, "cofcgi error: handler threw", 10s));
  const std::string text = read_file(log);
  CHECK_MESSAGE(text.find("cofcgi info:") == std::string::npos, text);
  CHECK_MESSAGE(text.find("serving FastCGI") == std::string::npos, text);
}

TEST_CASE("access log tokens, for a real request over a socket") {
  TempDir dir;
  const std::string access = dir.path() + "/access.log";
  const std::string format =
      "R=%R u=%u m=%m r=%r q=%q Q=%Q s=%s l=%l B=%B us=%{micro}d ms=%{milli}d sec=%d "
      "e=%{HTTP_X_TRACE}e none=%{HTTP_NONE}e f=%f n=%n p=%p I=%I t=%{%Y}t T=%{%Y}T pct=%%";
  App app =
      start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0",
                {"--access-log", access, "--access-format", format}, dir.path() + "/server.log");
  Pairs params = cgi_params("POST", "/echo/path?a=1&b=2", 5);
  for (auto& [name, value] : params) {
    if (name == "REMOTE_ADDR") value = "192.0.2.7";  // a param only: nothing is sent there
  }
  params.emplace_back("REMOTE_USER", "alice");
  params.emplace_back("HTTP_X_TRACE", "trace-42");
  params.emplace_back("SCRIPT_FILENAME", "/srv/app/index");
  FcgiConn conn(app.address);
  const FcgiReply reply = conn.request(1, params, "hello");
  REQUIRE(reply.complete);
  const CgiResponse response = parse_cgi_response(reply.out);
  REQUIRE(conn.request(2, cgi_params("GET", "/second")).complete);
  REQUIRE(wait_for_lines(access, 2, 10s));
  const std::vector<std::string> lines = lines_of(read_file(access));
  const std::string& line = lines[0];
  INFO(line);
  CHECK(line.rfind("R=192.0.2.7 ", 0) == 0);
  CHECK(line.find(" u=alice ") != std::string::npos);
  CHECK(line.find(" m=POST ") != std::string::npos);
  CHECK(line.find(" r=/echo/path ") != std::string::npos);
  CHECK(line.find(" q=a=1&b=2 ") != std::string::npos);
  CHECK(line.find(" Q=? ") != std::string::npos);
  CHECK(line.find(" s=200 ") != std::string::npos);
  CHECK(response.body == "ok /echo/path\n");
  CHECK(line.find(" l=5 ") != std::string::npos);
  CHECK(line.find(" B=" + std::to_string(response.body.size()) + " ") != std::string::npos);
  CHECK(matches_shape(between(line, " us=", " "), "9+"));
  CHECK(matches_shape(between(line, " ms=", " "), "9+.999"));
  CHECK(matches_shape(between(line, " sec=", " "), "9+.999"));
  CHECK(line.find(" e=trace-42 none=- ") != std::string::npos);
  CHECK(line.find(" f=/srv/app/index ") != std::string::npos);
  CHECK(line.find(" n=cgi_test_server ") != std::string::npos);
  CHECK(line.find(" p=" + std::to_string(app.child->pid()) + " ") != std::string::npos);
  CHECK(line.find(" I=" + std::to_string(app.child->pid()) + "-1 ") != std::string::npos);
  char year[8];
  const time_t now = time(nullptr);
  tm parts{};
  localtime_r(&now, &parts);
  strftime(year, sizeof year, "%Y", &parts);
  CHECK(line.find(std::string(" t=") + year + " T=" + year + " pct=%") != std::string::npos);
  // The second request: its own id, no query, an empty %q.
  CHECK(lines[1].find(" r=/second q= Q= ") != std::string::npos);
  CHECK(lines[1].find(" I=" + std::to_string(app.child->pid()) + "-2 ") != std::string::npos);
}

TEST_CASE("SIGUSR1 reopens both logs: after a rename, new lines go to the new files, none lost") {
  TempDir dir;
  const std::string access = dir.path() + "/access.log";
  const std::string error = dir.path() + "/error.log";
  App app = start_app(
      COFCGI_TEST_SERVER_EXE, "127.0.0.1:0",
      {"--access-log", access, "--error-log", error, "--threads", "2", "--access-format", "%I %r"},
      error);
  // A client sends requests one after another the whole time: some are logged while the
  // files are renamed and reopened.
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::thread client([&] {
    FcgiConn conn(app.address);
    for (int i = 1; !stop.load() && i < 100000; ++i) {
      if (!conn.request(1, cgi_params("GET", "/n" + std::to_string(i))).complete) break;
      answered.fetch_add(1);
    }
  });
  while (answered.load() < 20) std::this_thread::sleep_for(5ms);
  // What logrotate does: rename, then the postrotate signal.
  REQUIRE(::rename(access.c_str(), (access + ".1").c_str()) == 0);
  REQUIRE(::rename(error.c_str(), (error + ".1").c_str()) == 0);
  app.child->signal(SIGUSR1);
  const bool reopened = wait_for_text(error, "reopened the log files", 10s);
  const int at_reopen = answered.load();
  while (answered.load() < at_reopen + 20) std::this_thread::sleep_for(5ms);
  stop.store(true);
  client.join();
  REQUIRE(reopened);
  const int total = answered.load();
  REQUIRE(wait_for_lines(access, 1, 10s));
  // Every answered request has its line, in one file or the other, exactly once.
  const auto deadline = Clock::now() + 10s;
  std::vector<std::string> old_lines, new_lines;
  do {
    old_lines = lines_of(read_file(access + ".1"));
    new_lines = lines_of(read_file(access));
  } while (old_lines.size() + new_lines.size() < static_cast<std::size_t>(total) &&
           Clock::now() < deadline && (std::this_thread::sleep_for(10ms), true));
  CHECK(old_lines.size() + new_lines.size() == static_cast<std::size_t>(total));
  CHECK(old_lines.size() >= 20);
  CHECK(new_lines.size() >= 20);
  // Each request's line is there exactly once: the ids are 1..total.
  std::vector<bool> seen(static_cast<std::size_t>(total) + 1, false);
  for (const auto* lines : {&old_lines, &new_lines}) {
    for (const std::string& line : *lines) {
      const std::size_t dash = line.find('-');
      const long long id = std::stoll(line.substr(dash + 1, line.find(' ') - dash - 1));
      REQUIRE_MESSAGE((id >= 1 && id <= total), line);
      CHECK_MESSAGE(!seen[static_cast<std::size_t>(id)], "logged twice: " << line);
      seen[static_cast<std::size_t>(id)] = true;
    }
  }
  // The error log: the signal's line in the old file, the reopen's in the new one.
  CHECK(read_file(error + ".1").find("got SIGUSR1") != std::string::npos);
  CHECK(read_file(error).find("got SIGUSR1") == std::string::npos);
}

TEST_CASE("SIGUSR1 to the supervisor: it and every worker reopen their logs") {
  TempDir dir;
  const std::string access = dir.path() + "/access.log";
  const std::string error = dir.path() + "/error.log";
  App app = start_app(COFCGI_TEST_SERVER_EXE, "127.0.0.1:0",
                      {"--workers", "2", "--access-log", access, "--error-log", error,
                       "--access-format", "%p %I %r"},
                      error);
  auto send = [&](int n, const std::string& tag) {
    for (int i = 0; i < n; ++i) {
      // A new connection each time: the kernel spreads them over both workers.
      FcgiConn conn(app.address);
      REQUIRE(conn.request(1, cgi_params("GET", "/" + tag + std::to_string(i))).complete);
    }
  };
  send(20, "before");
  REQUIRE(wait_for_lines(access, 20, 10s));
  REQUIRE(::rename(access.c_str(), (access + ".1").c_str()) == 0);
  REQUIRE(::rename(error.c_str(), (error + ".1").c_str()) == 0);
  app.child->signal(SIGUSR1);
  // Two workers each say so in the new error log once they reopened.
  const auto deadline = Clock::now() + 10s;
  std::size_t reopened = 0;
  while (Clock::now() < deadline) {
    const std::string text = read_file(error);
    reopened = 0;
    for (std::size_t at = text.find("reopened the log files"); at != std::string::npos;
         at = text.find("reopened the log files", at + 1))
      ++reopened;
    if (reopened >= 2) break;
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(reopened >= 2);
  send(20, "after");
  REQUIRE(wait_for_lines(access, 20, 10s));
  const std::vector<std::string> old_lines = lines_of(read_file(access + ".1"));
  const std::vector<std::string> new_lines = lines_of(read_file(access));
  CHECK(old_lines.size() == 20);
  CHECK(new_lines.size() == 20);
  for (const std::string& line : old_lines)
    CHECK_MESSAGE(line.find("/before") != std::string::npos, line);
  for (const std::string& line : new_lines)
    CHECK_MESSAGE(line.find("/after") != std::string::npos, line);
  // The supervisor's own line about the signal went to the old file, its later ones to the
  // new file (it reopened its fd 2 too).
  CHECK(read_file(error + ".1").find("got SIGUSR1: passed to the workers") != std::string::npos);
  app.child->signal(SIGTERM);
  REQUIRE(app.child->wait_exit(20s).has_value());
  const std::string after = read_file(error);
  CHECK_MESSAGE(after.find("stopping the workers") != std::string::npos, after);
}
