// How many syscalls a response takes to leave (issue 15, writes): a small response -- header
// text, body, the empty STDOUT that ends the stream and END_REQUEST -- in one sendmsg on a
// kept FastCGI connection, and a CGI run's answer in one write to its stdout pipe (it used to
// try send(), fail with ENOTSOCK, then write()). examples/hello run under strace -f, every
// write-family call recorded with its fd.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cgi_test_util.h"

namespace {

using namespace cgi_test;
using namespace std::chrono_literals;

const char* const kWriteCalls = "trace=write,writev,sendto,sendmsg,pwrite64,pwritev";

bool strace_works() {
  return run_program({COFCGI_STRACE_EXE, "-qq", "-o", "/dev/null", "true"}, "").status == 0;
}

// WriteCall: one line of strace -f output for a write-family call.
struct WriteCall {
  std::string name;
  int fd = -1;
  bool failed = false;
};

// write_calls parses strace -f -o output ("PID name(fd, ...) = result").
std::vector<WriteCall> write_calls(const std::string& trace) {
  std::vector<WriteCall> calls;
  std::istringstream in(trace);
  std::string line;
  while (std::getline(in, line)) {
    std::size_t at = line.find_first_not_of("0123456789 ");
    const std::size_t paren = line.find('(', at);
    if (at == std::string::npos || paren == std::string::npos) continue;
    WriteCall call;
    call.name = line.substr(at, paren - at);
    try {
      call.fd = std::stoi(line.substr(paren + 1));
    } catch (const std::exception&) {
      continue;
    }
    call.failed = line.find(") = -1 ") != std::string::npos;
    calls.push_back(call);
  }
  return calls;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("a small response leaves a kept FastCGI connection in one write, END_REQUEST included") {
  if (!strace_works()) {
    MESSAGE("strace missing or cannot trace here: skipped");
    return;
  }
  TempDir dir;
  const std::string socket = dir.path() + "/hello.sock";
  const std::string trace = dir.path() + "/strace.out";
  Child app({COFCGI_STRACE_EXE, "-f", "-qq", "-e", kWriteCalls, "-e", "signal=none", "-o", trace,
             COFCGI_HELLO_EXE, "--listen", "unix:" + socket, "--threads", "1"},
            dir.path() + "/hello.log");
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!exists(socket) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  REQUIRE(exists(socket));

  constexpr int kRequests = 100;
  {
    FcgiConn conn("unix:" + socket);
    for (int i = 0; i < kRequests; ++i) {
      const FcgiReply reply = conn.request(1, cgi_params("GET", "/small"));
      REQUIRE(reply.complete);
      CHECK(reply.out.find("Hello, World!") != std::string::npos);
    }
  }
  // hello drains and exits on SIGTERM; strace follows it out and has written every line.
  const std::string strace_pid = std::to_string(app.pid());
  std::istringstream children(
      read_file("/proc/" + strace_pid + "/task/" + strace_pid + "/children"));
  for (pid_t pid; children >> pid;) ::kill(pid, SIGTERM);
  REQUIRE(app.wait_exit(20s).has_value());

  // Calls per fd, stdout and stderr (log lines) left out: the connection's are the answers.
  std::map<int, int> per_fd;
  int failed = 0;
  for (const WriteCall& call : write_calls(read_file(trace))) {
    if (call.fd <= 2) continue;
    ++per_fd[call.fd];
    if (call.failed) ++failed;
  }
  int most = 0;
  for (const auto& [fd, n] : per_fd) most = std::max(most, n);
  INFO(read_file(trace).substr(0, 2000));
  CHECK(most == kRequests);  // one sendmsg per response
  CHECK(failed == 0);
}

TEST_CASE("a CGI run writes its answer to a stdout pipe with one write") {
  if (!strace_works()) {
    MESSAGE("strace missing or cannot trace here: skipped");
    return;
  }
  TempDir dir;
  const std::string trace = dir.path() + "/strace.out";
  // LeakSanitizer cannot run under a tracer (it stops the threads with ptrace): under ASan
  // the run would exit 1 at its end.
  const RunResult r =
      run_program({COFCGI_STRACE_EXE, "-f", "-qq", "-e", kWriteCalls, "-e", "signal=none", "-o",
                   trace, "/usr/bin/env", "-i", "ASAN_OPTIONS=detect_leaks=0",
                   "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "SCRIPT_NAME=/cgi-bin/hello",
                   "SERVER_PROTOCOL=HTTP/1.1", COFCGI_HELLO_EXE},
                  "", 20s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out ==
        "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
        "Hello, World!\n");
  int on_stdout = 0;
  for (const WriteCall& call : write_calls(read_file(trace))) {
    if (call.fd != 1) continue;
    ++on_stdout;
    CHECK_MESSAGE(!call.failed, call.name << " on stdout failed");
  }
  INFO(read_file(trace));
  CHECK(on_stdout == 1);
}
