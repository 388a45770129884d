// What a kept FastCGI connection costs the app's kernel per request (issue 15): the reader
// reads a request, answers, and parks until the next one, without a recv that only says
// EAGAIN in between (the read that left the socket empty is remembered until epoll reports
// the next edge: co::note_fd_not_ready). examples/hello, one thread, counted by strace -c
// attached to the running app.
#include <dirent.h>
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "cgi_test_util.h"

namespace {

using namespace cgi_test;
using namespace std::chrono_literals;

// traced: every thread of pid has a tracer.
bool traced(pid_t pid) {
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(task_dir.c_str());
  if (dir == nullptr) return false;
  bool all = true, any = false;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream status(task_dir + "/" + e->d_name + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("TracerPid:", 0) != 0) continue;
      any = true;
      if (std::stoi(line.substr(10)) == 0) all = false;
    }
  }
  ::closedir(dir);
  return any && all;
}

// column: the calls (1) or errors (2) column of `name`'s row in strace -c -U calls,errors,name
// output, 0 when absent.
long column(const std::string& summary, const std::string& name, int col) {
  std::istringstream in(summary);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string w[3];
    int n = 0;
    while (n < 3 && words >> w[n]) ++n;
    if (n == 3 && w[2] == name) return std::stol(w[col - 1]);
    if (n == 2 && w[1] == name && col == 1) return std::stol(w[0]);
  }
  return 0;
}

}  // namespace

TEST_CASE("a kept connection's reader makes no EAGAIN recv between requests") {
  const std::string strace_exe = COFCGI_STRACE_EXE;
  if (strace_exe.empty() || strace_exe.find("NOTFOUND") != std::string::npos ||
      run_program({strace_exe, "-qq", "-o", "/dev/null", "/bin/true"}, "").status != 0) {
    MESSAGE("strace missing or cannot trace here: skipped");
    return;
  }
  TempDir dir;
  App app =
      start_app(COFCGI_HELLO_EXE, "127.0.0.1:0", {"--threads", "1"}, dir.path() + "/hello.log");
  FcgiConn conn(app.address);
  for (std::uint16_t i = 0; i < 5; ++i)
    REQUIRE(conn.request(1, cgi_params("GET", "/warm")).complete);

  const std::string out = dir.path() + "/strace.out";
  Child strace({strace_exe, "-f", "-qq", "-c", "-U", "calls,errors,name", "-o", out, "-p",
                std::to_string(app.child->pid())},
               dir.path() + "/strace.log");
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!traced(app.child->pid()) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  REQUIRE(traced(app.child->pid()));

  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    const FcgiReply reply = conn.request(1, cgi_params("GET", "/kept"));
    REQUIRE(reply.complete);
  }
  strace.signal(SIGINT);  // detaches and writes the summary
  REQUIRE(strace.wait_exit(20s).has_value());
  const std::string summary = read_file(out);
  MESSAGE(summary);
  const long recv_calls = column(summary, "recvfrom", 1);
  const long recv_errors = column(summary, "recvfrom", 2);
  // Each request is read by one recv; before, each was followed by one that said EAGAIN.
  CHECK(recv_calls >= kRequests);
  CHECK(recv_errors <= kRequests / 10);
}
