// status_overhead: what seeing inside the server costs while it serves. Each scenario is a
// server process (examples/hello, or the test server's /slow?ms=N route) on one thread,
// loaded by C client connections making requests back to back (FastCGI over loopback,
// FCGI_KEEP_CONN); the scenarios are run in turns, several rounds, and compared as ratios of
// requests per second to their baseline in the same round:
//   hello                      baseline
//   hello + status 1000/s      --status-path, and /status?json polled 1,000 times a second
//   hello + watchdog           --watchdog-timeout 100ms (a thread looking 40 times a second)
//   slow 2 ms                  baseline of the storm: every request sleeps 2 ms
//   slow 2 ms + slow log       --slow-request-timeout 1ms: every request is slow (a storm);
//                              at most --slow-log-rate 10 entries a second, with backtraces
// The poller's own CPU (a client on the same machine) is part of what the status scenario
// costs here. Usage: status_overhead HELLO TEST_SERVER [seconds per run] [rounds] [connections]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "cgi_test_util.h"

using namespace cgi_test;
using namespace std::chrono_literals;

namespace {

struct Scenario {
  const char* name;
  int exe;  // 0: hello, 1: the test server
  std::vector<std::string> args;
  std::string uri;
  bool poll_status = false;
  int baseline = -1;  // index of the scenario it is compared with (-1: it is a baseline)
};

// load runs `connections` clients for `seconds` and returns the requests completed per second.
double load(const std::string& address, const std::string& uri, int connections, int seconds,
            bool poll_status) {
  std::atomic<bool> stop{false};
  std::atomic<long long> done{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < connections; ++i) {
    clients.emplace_back([&] {
      FcgiConn conn(address);
      long long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!conn.request(1, cgi_params("GET", uri), {}, true, 10s).complete) break;
        ++n;
      }
      done += n;
    });
  }
  std::thread poller;
  std::atomic<long long> polls{0};
  if (poll_status) {
    poller = std::thread([&] {
      FcgiConn conn(address);
      auto next = std::chrono::steady_clock::now();
      while (!stop.load(std::memory_order_relaxed)) {
        if (conn.request(1, cgi_params("GET", "/status?json"), {}, true, 10s).complete) ++polls;
        next += 1ms;  // 1,000 a second
        std::this_thread::sleep_until(next);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (std::thread& t : clients) t.join();
  if (poller.joinable()) poller.join();
  if (poll_status)
    std::fprintf(stderr, "  (status pages served: %.0f/s)\n", static_cast<double>(polls) / seconds);
  return static_cast<double>(done.load()) / seconds;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()      ? 0
         : v.size() % 2 ? v[v.size() / 2]
                        : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s HELLO TEST_SERVER [seconds] [rounds] [connections]\n", argv[0]);
    return 2;
  }
  const std::string exes[2] = {argv[1], argv[2]};
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 3;
  const int rounds = argc > 4 ? std::atoi(argv[4]) : 3;
  const int connections = argc > 5 ? std::atoi(argv[5]) : 8;
  const std::vector<Scenario> scenarios = {
      {"hello", 0, {}, "/", false, -1},
      {"hello + status 1000/s", 0, {"--status-path", "/status"}, "/", true, 0},
      {"hello + watchdog 100ms", 0, {"--watchdog-timeout", "100ms"}, "/", false, 0},
      {"slow 2 ms", 1, {}, "/slow?ms=2", false, -1},
      {"slow 2 ms + slow log (storm)",
       1,
       {"--slow-request-timeout", "1ms", "--slow-log-rate", "10"},
       "/slow?ms=2",
       false,
       3},
  };
  TempDir dir;
  // Every server starts once and idles while the others are loaded; the scenarios then take
  // turns, `rounds` times, so that the machine's other load falls on all of them alike.
  std::vector<App> apps;
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    std::vector<std::string> args = {"--threads", "1"};  // the log goes to a file
    args.insert(args.end(), scenarios[i].args.begin(), scenarios[i].args.end());
    apps.push_back(start_app(exes[scenarios[i].exe], "127.0.0.1:0", args,
                             dir.path() + "/app" + std::to_string(i) + ".log"));
  }
  std::vector<std::vector<double>> results(scenarios.size());
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < scenarios.size(); ++i) {
      const Scenario& s = scenarios[i];
      const double rps = load(apps[i].address, s.uri, connections, seconds, s.poll_status);
      results[i].push_back(rps);
      std::fprintf(stderr, "round %d: %-32s %10.0f req/s\n", round + 1, s.name, rps);
    }
  }
  std::printf(
      "| scenario | req/s, median of %d runs of %d s | ratio to its baseline in the same "
      "round: median (min-max) |\n| --- | ---: | --- |\n",
      rounds, seconds);
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    std::vector<double> ratios;
    for (int r = 0; r < rounds && scenarios[i].baseline >= 0; ++r)
      ratios.push_back(results[i][r] / results[scenarios[i].baseline][r]);
    char ratio[96] = "baseline";
    if (!ratios.empty()) {
      std::sort(ratios.begin(), ratios.end());
      std::snprintf(ratio, sizeof ratio, "%.3f (%.3f-%.3f)", median(ratios), ratios.front(),
                    ratios.back());
    }
    std::printf("| %s | %.0f | %s |\n", scenarios[i].name, median(results[i]), ratio);
  }
  return 0;
}
