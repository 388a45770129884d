// examples/techempower under the bench's load on a healthy database (issue 14's 503s): wrk
// with 256 connections through nginx, the app with 2 threads and one pool of 32, while other
// clients hang up mid-request (nginx then aborts their FastCGI requests and the app cancels
// their coroutines). Nothing is wrong with the database, so every answer wrk gets must be
// 2xx: a cancelled request may cost its own connection, never another request's answer.
// Two wrk runs back to back, as bench/run tfb does: the end of the first (wrk closing 256
// connections with requests in flight) must not make the second fail either.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>

#include "ops_test_util.h"
#include "techempower_stack.h"

using techempower_test::TechempowerStack;
using namespace std::chrono_literals;

namespace {

TechempowerStack& stack() {
  static TechempowerStack instance(2, 32);
  return instance;
}

// HangUps: a thread that sends requests to nginx and closes each connection (with a reset)
// a moment later, while the request is still being served.
class HangUps {
 public:
  HangUps(std::uint16_t port, std::string target)
      : thread_([this, port, target = std::move(target)] { run(port, target); }) {}
  ~HangUps() {
    stop_ = true;
    thread_.join();
  }
  HangUps(const HangUps&) = delete;
  HangUps& operator=(const HangUps&) = delete;
  long sent() const { return sent_; }

 private:
  void run(std::uint16_t port, const std::string& target) {
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    while (!stop_) {
      const int fd = cgi_test::connect_to("127.0.0.1:" + std::to_string(port));
      if (fd < 0) continue;
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()))
        ++sent_;
      std::this_thread::sleep_for(1ms);
      const linger reset{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      ::close(fd);
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<long> sent_{0};
  std::thread thread_;
};

// log_lines: the lines of the app's log that name `target`'s path (its 503s say why), at most
// `max` of them.
std::string log_lines(const std::string& log, const std::string& target, int max) {
  const std::string path = target.substr(0, target.find('?'));
  std::string out;
  std::size_t start = 0;
  for (int n = 0; n < max && start < log.size();) {
    const std::size_t end = std::min(log.find('\n', start), log.size());
    const std::string line = log.substr(start, end - start);
    if (line.find(path + ":") != std::string::npos) {
      out += line + "\n";
      ++n;
    }
    start = end + 1;
  }
  return out;
}

void check_all_2xx(const std::string& target) {
  const std::string url = "http://127.0.0.1:" + std::to_string(stack().port()) + target;
  const std::size_t log_from = stack().app().child->log().size();
  HangUps hang_ups(stack().port(), target);
  long long non_2xx = 0;
  for (int run = 1; run <= 2; ++run) {
    const ops_test::WrkResult w = ops_test::run_wrk(url, 3, 256);
    MESSAGE(target << " run " << run << ": " << w.requests << " requests, " << w.non_2xx
                   << " non-2xx, " << w.socket_errors << " socket errors, " << hang_ups.sent()
                   << " hung up so far");
    CHECK(w.requests > 0);
    CHECK_MESSAGE(w.non_2xx == 0, w.out);
    non_2xx += w.non_2xx;
  }
  CHECK(hang_ups.sent() > 0);
  if (non_2xx > 0)
    MESSAGE("the app's log:\n"
            << log_lines(stack().app().child->log().substr(log_from), target, 10));
}

}  // namespace

TEST_CASE("techempower under wrk -c256 with clients hanging up: /db answers 2xx only") {
  check_all_2xx("/db");
}

TEST_CASE("techempower under wrk -c256 with clients hanging up: /fortunes answers 2xx only") {
  check_all_2xx("/fortunes");
}

TEST_CASE("techempower under wrk -c256 with clients hanging up: /updates answers 2xx only") {
  check_all_2xx("/updates?queries=20");
}
