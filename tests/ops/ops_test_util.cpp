#include "ops_test_util.h"

#include <signal.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace ops_test {

using Clock = std::chrono::steady_clock;

bool wait_for_log(const std::string& log_path, const std::string& text,
                  std::chrono::milliseconds timeout, std::size_t from) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const std::string log = cgi_test::read_file(log_path);
    if (log.size() > from && log.find(text, from) != std::string::npos) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

std::size_t count_in_log(const std::string& log_path, const std::string& text) {
  const std::string log = cgi_test::read_file(log_path);
  std::size_t n = 0;
  for (std::size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
  return n;
}

std::vector<pid_t> serving_workers(const std::string& log_path, std::size_t from) {
  const std::string log = cgi_test::read_file(log_path);
  const std::string tail = log.size() > from ? log.substr(from) : std::string();
  static const std::regex line(R"(worker \d+ \(pid (\d+)\) serving)");
  std::vector<pid_t> pids;
  for (std::sregex_iterator it(tail.begin(), tail.end(), line), end; it != end; ++it) {
    pids.push_back(static_cast<pid_t>(std::stol((*it)[1].str())));
  }
  return pids;
}

std::vector<pid_t> wait_for_workers(const std::string& log_path, std::size_t n,
                                    std::chrono::milliseconds timeout, std::size_t from) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::vector<pid_t> pids = serving_workers(log_path, from);
    if (pids.size() >= n || Clock::now() >= deadline) return pids;
    std::this_thread::sleep_for(10ms);
  }
}

bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const std::size_t close = all.rfind(')');
  return close == std::string::npos || close + 2 >= all.size() || all[close + 2] == 'Z' ||
         all[close + 2] == 'X';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!process_gone(pid)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::optional<std::string> fetch(const std::string& address, const std::string& uri,
                                 std::chrono::milliseconds timeout) {
  try {
    cgi_test::FcgiConn conn(address);
    const cgi_test::FcgiReply reply =
        conn.request(1, cgi_test::cgi_params("GET", uri), {}, false, timeout);
    if (!reply.complete) return std::nullopt;
    return cgi_test::parse_cgi_response(reply.out).body;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

pid_t pid_served(const std::optional<std::string>& body) {
  if (!body || body->rfind("pid ", 0) != 0) return -1;
  return static_cast<pid_t>(std::stol(body->substr(4)));
}

std::size_t file_size(const std::string& path) { return cgi_test::read_file(path).size(); }

pid_t read_pid_file(const std::string& path) {
  std::ifstream in(path);
  long pid = -1;
  if (!(in >> pid)) return -1;
  return static_cast<pid_t>(pid);
}

WrkResult run_wrk(const std::string& url, int seconds, int connections) {
  WrkResult w;
  const cgi_test::RunResult r =
      cgi_test::run_program({"/usr/bin/wrk", "-t2", "-c" + std::to_string(connections),
                             "-d" + std::to_string(seconds) + "s", "--timeout", "10s", url},
                            "", std::chrono::seconds(seconds + 30));
  w.out = r.out + r.err;
  std::smatch m;
  if (std::regex_search(w.out, m, std::regex(R"((\d+) requests in)")))
    w.requests = std::stoll(m[1]);
  if (std::regex_search(w.out, m, std::regex(R"(Non-2xx or 3xx responses: (\d+))")))
    w.non_2xx = std::stoll(m[1]);
  if (std::regex_search(
          w.out, m,
          std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))"))) {
    w.socket_errors = std::stoll(m[1]) + std::stoll(m[2]) + std::stoll(m[3]) + std::stoll(m[4]);
  }
  return w;
}

}  // namespace ops_test
