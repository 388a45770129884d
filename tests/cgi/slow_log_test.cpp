// The slow log (ServerOptions::slow_request_timeout) and the watchdog (watchdog_timeout):
// what an entry says (the handler's function name in its backtrace), that a storm of slow
// requests stays within slow_log_rate, and a thread that stops switching.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cgi_test_util.h"
#include "cofcgi/cgi/server.h"
#include "cofcgi/runtime/sleep.h"

using namespace cgi_test;
using namespace std::chrono_literals;

namespace {

// CapturedStderr sends fd 2 (where co::log_printf writes) to a file for its lifetime.
class CapturedStderr {
 public:
  explicit CapturedStderr(const std::string& path) : path_(path), saved_(::dup(2)) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~CapturedStderr() {
    ::dup2(saved_, 2);
    ::close(saved_);
  }
  std::string text() const { return read_file(path_); }

 private:
  std::string path_;
  int saved_;
};

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

[[gnu::noinline]] void slow_log_test_handler(co::cgi::Response& response) {
  co::sleep_for(400ms);
  response << "slow\n";
}

[[gnu::noinline]] void slow_log_test_spin(std::chrono::milliseconds how_long) {
  const auto until = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < until) asm volatile("" ::: "memory");
}

long long json_number(const std::string& json, const std::string& key) {
  const std::size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + key.size() + 3));
}

}  // namespace

TEST_CASE("a slow request gets one entry naming its handler's function") {
  TempDir dir;
  CapturedStderr log(dir.path() + "/log");
  {
    co::cgi::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.status_path = "/status";
    o.slow_request_timeout = 100ms;
    InProcessServer server(
        o, [](co::cgi::Request&, co::cgi::Response& response) { slow_log_test_handler(response); });
    FcgiConn conn(server.address());
    CHECK(conn.request(1, cgi_params("GET", "/slow?x=1"), {}, true, 10s).complete);
    const FcgiReply page = conn.request(2, cgi_params("GET", "/status?json"), {}, true, 10s);
    CHECK(json_number(page.out, "slow_requests") == 1);
  }
  const std::string text = log.text();
  INFO(text);
  CHECK(occurrences(text, "slow request: GET /slow?x=1 from 127.0.0.1, ") == 1);
  // Parked in sleep, or just woken if the machine is slow to run the log's ticker.
  CHECK(text.find(", waiting on ") != std::string::npos);
  CHECK(text.find("slow_log_test_handler") != std::string::npos);
  CHECK(text.find("co::sleep_until") != std::string::npos);
}

TEST_CASE("a storm of slow requests is logged at most slow_log_rate times per second") {
  TempDir dir;
  CapturedStderr log(dir.path() + "/log");
  std::string page;
  {
    co::cgi::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.status_path = "/status";
    o.slow_request_timeout = 50ms;
    o.slow_log_rate = 3;
    InProcessServer server(
        o, [](co::cgi::Request&, co::cgi::Response& response) { slow_log_test_handler(response); });
    std::vector<std::unique_ptr<FcgiConn>> conns;
    for (int i = 0; i < 100; ++i) {
      conns.push_back(std::make_unique<FcgiConn>(server.address()));
      conns.back()->send(whole_request(1, cgi_params("GET", "/storm")));
    }
    for (auto& c : conns) CHECK(c->read_reply(1, 20s).complete);
    FcgiConn conn(server.address());
    page = conn.request(1, cgi_params("GET", "/status?json"), {}, true, 10s).out;
  }
  const std::string text = log.text();
  INFO(text);
  CHECK(json_number(page, "slow_requests") == 100);  // every one counted
  // A burst of 3, then 3 per second: the whole storm lasts well under 2 s.
  const std::size_t entries = occurrences(text, "slow request: GET /storm");
  CHECK(entries >= 3);
  CHECK(entries <= 3 + 3 * 2);
}

TEST_CASE("the watchdog logs what a thread runs when it stops switching") {
  TempDir dir;
  CapturedStderr log(dir.path() + "/log");
  {
    co::cgi::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.watchdog_timeout = 100ms;
    InProcessServer server(o, [](co::cgi::Request&, co::cgi::Response& response) {
      slow_log_test_spin(1000ms);
      response << "spun\n";
    });
    FcgiConn conn(server.address());
    CHECK(conn.request(1, cgi_params("GET", "/spin"), {}, true, 10s).complete);
    // Quiet afterwards: an idle thread is not a stalled one.
    std::this_thread::sleep_for(300ms);
  }
  const std::string text = log.text();
  INFO(text);
  CHECK(occurrences(text, "watchdog: thread 0 has not switched coroutines for ") == 1);
  CHECK(text.find("fastcgi request GET /spin") != std::string::npos);
  CHECK(text.find("slow_log_test_spin") != std::string::npos);
}
