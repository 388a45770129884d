// mysql_roundtrip: MariaDB round trips per second (`SELECT 1`), one run, side by side:
//   - coroutines: N coroutines on ONE thread, each looping pool.acquire() + query + release
//     over a co::mysql::Pool of N connections (libmariadb's socket calls park through the
//     hooks);
//   - threads:    N std::threads, each with its own blocking libmariadb connection.
// Both use the same query helper (co::mysql::query: mysql_real_query + mysql_store_result +
// rows copied into strings). The server is a private mariadbd the benchmark starts itself
// (tests/support/mariadb_server.h) and kills at the end. Each (transport, client) pair runs
// for a fixed time after a warm-up; the pairs alternate so that the noise of a shared
// machine hits both alike. The client and the server share this machine's cores: the
// figures are for one box, not a network. Columns: round trips/s, latency percentiles of one
// acquire+query(+release), and the CPU time the client process and mariadbd used during the
// window (per round trip: what each side costs). On a busy machine the kernel shares CPU per
// thread, so one client thread gets a smaller share than 64: compare the CPU columns too.
//
//   build-bench/bench/macro/mysql_roundtrip [--seconds S] [--workers N] [--transport tcp|unix|both]
//                                           [--rounds R] [--warmup S] [--clients
//                                           coroutines|threads|both]
//                                           [--pin CLIENT_CPU,SERVER_CPU]
//                                           [--server-arg --mariadbd-option=value]...
// --pin puts the client (all its threads) on one core and mariadbd (all its threads, and the
// ones it starts later) on another, so each side has a core of its own whatever the client's
// thread count.
// defaults: 5 s per measurement after 1 s of warm-up, 64 workers, both transports, both
// clients, 1 round.
#include <dirent.h>
#include <mysql.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cofcgi/adapters/mysql.h"
#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/runtime.h"
#include "mariadb_server.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  double seconds = 5;
  double warmup = 1;
  int workers = 64;
  int rounds = 1;
  bool tcp = true;
  bool unix_socket = true;
  bool coroutines = true;
  bool threads = true;
  std::vector<std::string> server_args;  // extra mariadbd options (--server-arg, repeatable)
  int client_cpu = -1, server_cpu = -1;  // --pin C,S: client on core C, mariadbd on core S
};

struct Sample {
  std::string client;
  std::string transport;
  int workers = 0;
  int threads = 0;
  double seconds = 0;
  long long round_trips = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
  double cpu_s = 0;         // this process's user+sys CPU during the measurement
  double server_cpu_s = 0;  // mariadbd's
  long long errors = 0;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Latencies in microseconds, bucketed (1 µs buckets up to 100 ms), so recording is cheap and
// the same for both clients.
struct Histogram {
  std::vector<std::uint32_t> buckets = std::vector<std::uint32_t>(100001, 0);
  long long count = 0;
  void add(double us) {
    const auto b = static_cast<std::size_t>(std::min(us, 100000.0));
    ++buckets[b];
    ++count;
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += o.buckets[i];
    count += o.count;
  }
  double percentile(double p) const {
    const long long target = static_cast<long long>(static_cast<double>(count) * p);
    long long seen = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      seen += buckets[i];
      if (seen > target) return static_cast<double>(i);
    }
    return static_cast<double>(buckets.size() - 1);
  }
  double max() const {
    for (std::size_t i = buckets.size(); i-- > 0;) {
      if (buckets[i]) return static_cast<double>(i);
    }
    return 0;
  }
};

// cpu_seconds_of: user+sys CPU of another process (/proc/PID/stat fields 14 and 15).
double cpu_seconds_of(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  if (!p) return 0;
  unsigned long long utime = 0, stime = 0;
  // After ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                  &stime) != 2)
    return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// pin_process sets the affinity of every thread of `pid` (threads created later inherit it
// from their creator).
bool pin_process(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task", static_cast<int>(pid));
  DIR* d = opendir(path);
  if (!d) return false;
  bool ok = true;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ok = sched_setaffinity(static_cast<pid_t>(std::atoi(e->d_name)), sizeof set, &set) == 0 && ok;
  }
  closedir(d);
  return ok;
}

double us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

co::mysql::Config config_for(const cofcgi_test::MariadbServer& srv, bool unix_socket,
                             int connections) {
  co::mysql::Config c;
  if (unix_socket) {
    c.unix_socket = srv.socket_path();
  } else {
    c.host = srv.host();
    c.port = srv.port();
  }
  c.user = srv.user();
  c.password = srv.password();
  c.database = srv.database();
  c.max_connections = static_cast<std::size_t>(connections);
  c.acquire_timeout = std::chrono::milliseconds(30000);
  c.ping_after_idle = std::chrono::milliseconds(60000);
  return c;
}

// connect_raw opens a connection with the same libmariadb options as the pool's (the read
// timeout changes libmariadb's read path: recv(MSG_DONTWAIT) + poll instead of a blocking
// recv), so both clients run the same client code.
MYSQL* connect_raw(const co::mysql::Config& c) {
  MYSQL* m = mysql_init(nullptr);
  const unsigned connect_timeout = static_cast<unsigned>(c.connect_timeout.count());
  const unsigned read_timeout = static_cast<unsigned>(c.read_timeout.count());
  const unsigned write_timeout = static_cast<unsigned>(c.write_timeout.count());
  mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  if (read_timeout) mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
  if (write_timeout) mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout);
  mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, c.charset.c_str());
  const bool unix_socket = !c.unix_socket.empty();
  if (!mysql_real_connect(m, unix_socket ? "localhost" : c.host.c_str(), c.user.c_str(),
                          c.password.c_str(), c.database.c_str(), unix_socket ? 0 : c.port,
                          unix_socket ? c.unix_socket.c_str() : nullptr, 0)) {
    std::fprintf(stderr, "connect: %s\n", mysql_error(m));
    std::exit(1);
  }
  return m;
}

Sample run_coroutines(const cofcgi_test::MariadbServer& srv, bool unix_socket, const Options& o) {
  co::mysql::Pool pool(config_for(srv, unix_socket, o.workers));
  std::vector<Histogram> hist(static_cast<std::size_t>(o.workers));
  long long errors = 0;
  bool measuring = false, stop = false;
  double cpu0 = 0, cpu1 = 0, server_cpu0 = 0, server_cpu1 = 0;
  Clock::time_point t_begin, t_end;
  for (int w = 0; w < o.workers; ++w) {
    co::go([&, w] {
      Histogram& h = hist[static_cast<std::size_t>(w)];
      while (!stop) {
        const auto t0 = Clock::now();
        try {
          auto conn = pool.acquire();
          const auto r = conn.query("SELECT 1");
          if (r.size() != 1 || r.value(0, 0) != "1") ++errors;
        } catch (const std::exception& e) {
          ++errors;
          std::fprintf(stderr, "coroutine: %s\n", e.what());
          co::sleep_for(std::chrono::milliseconds(100));
        }
        if (measuring) h.add(us_between(t0, Clock::now()));
      }
    });
  }
  // The conductor: warm-up (connections opened), then the measured window.
  co::go([&] {
    co::sleep_for(std::chrono::duration<double>(o.warmup));
    for (auto& h : hist) h = Histogram();
    cpu0 = cpu_seconds();
    server_cpu0 = cpu_seconds_of(srv.pid());
    t_begin = Clock::now();
    measuring = true;
    co::sleep_for(std::chrono::duration<double>(o.seconds));
    measuring = false;
    t_end = Clock::now();
    server_cpu1 = cpu_seconds_of(srv.pid());
    cpu1 = cpu_seconds();
    stop = true;
  });
  co::run();
  Histogram all;
  for (const auto& h : hist) all.merge(h);
  Sample s;
  s.client = "coroutines + co::mysql::Pool";
  s.transport = unix_socket ? "unix socket" : "tcp 127.0.0.1";
  s.workers = o.workers;
  s.threads = 1;
  s.seconds = std::chrono::duration<double>(t_end - t_begin).count();
  s.round_trips = all.count;
  s.p50_us = all.percentile(0.5);
  s.p99_us = all.percentile(0.99);
  s.max_us = all.max();
  s.cpu_s = cpu1 - cpu0;
  s.server_cpu_s = server_cpu1 - server_cpu0;
  s.errors = errors;
  return s;
}

Sample run_threads(const cofcgi_test::MariadbServer& srv, bool unix_socket, const Options& o) {
  const co::mysql::Config c = config_for(srv, unix_socket, o.workers);
  std::vector<Histogram> hist(static_cast<std::size_t>(o.workers));
  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<long long> errors{0};
  std::atomic<int> connected{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < o.workers; ++w) {
    threads.emplace_back([&, w] {
      co::mysql::thread_init();
      MYSQL* m = connect_raw(c);
      ++connected;
      Histogram& h = hist[static_cast<std::size_t>(w)];
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        try {
          const auto r = co::mysql::query(m, "SELECT 1");
          if (r.size() != 1 || r.value(0, 0) != "1") ++errors;
        } catch (const std::exception& e) {
          ++errors;
          std::fprintf(stderr, "thread: %s\n", e.what());
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (measuring.load(std::memory_order_relaxed)) h.add(us_between(t0, Clock::now()));
      }
      mysql_close(m);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  while (connected.load() < o.workers) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Histograms are reset by their owner only; here: start counting from now.
  const double cpu0 = cpu_seconds();
  const double server_cpu0 = cpu_seconds_of(srv.pid());
  const auto t_begin = Clock::now();
  measuring = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  measuring = false;
  const auto t_end = Clock::now();
  const double server_cpu1 = cpu_seconds_of(srv.pid());
  const double cpu1 = cpu_seconds();
  stop = true;
  for (auto& t : threads) t.join();
  Histogram all;
  for (const auto& h : hist) all.merge(h);
  Sample s;
  s.client = "std::threads, a connection each";
  s.transport = unix_socket ? "unix socket" : "tcp 127.0.0.1";
  s.workers = o.workers;
  s.threads = o.workers;
  s.seconds = std::chrono::duration<double>(t_end - t_begin).count();
  s.round_trips = all.count;
  s.p50_us = all.percentile(0.5);
  s.p99_us = all.percentile(0.99);
  s.max_us = all.max();
  s.cpu_s = cpu1 - cpu0;
  s.server_cpu_s = server_cpu1 - server_cpu0;
  s.errors = errors.load();
  return s;
}

void usage(const char* argv0) {
  std::fprintf(
      stderr,
      "usage: %s [--seconds S] [--warmup S] [--workers N] [--rounds R] [--transport "
      "tcp|unix|both]\n"
      "          [--clients coroutines|threads|both] [--server-arg --mariadbd-option=value]...\n",
      argv0);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(argv[0]);
      return argv[++i];
    };
    if (a == "--seconds") {
      o.seconds = std::atof(next());
    } else if (a == "--warmup") {
      o.warmup = std::atof(next());
    } else if (a == "--workers") {
      o.workers = std::atoi(next());
    } else if (a == "--rounds") {
      o.rounds = std::atoi(next());
    } else if (a == "--transport") {
      const std::string t = next();
      o.tcp = t == "tcp" || t == "both";
      o.unix_socket = t == "unix" || t == "both";
      if (!o.tcp && !o.unix_socket) usage(argv[0]);
    } else if (a == "--pin") {
      if (std::sscanf(next(), "%d,%d", &o.client_cpu, &o.server_cpu) != 2) usage(argv[0]);
    } else if (a == "--server-arg") {
      o.server_args.emplace_back(next());
    } else if (a == "--clients") {
      const std::string c = next();
      o.coroutines = c == "coroutines" || c == "both";
      o.threads = c == "threads" || c == "both";
      if (!o.coroutines && !o.threads) usage(argv[0]);
    } else {
      usage(argv[0]);
    }
  }
  if (o.workers <= 0 || o.seconds <= 0 || o.rounds <= 0) usage(argv[0]);

  co::mysql::library_init();  // main thread, before any thread or coroutine
  co::mysql::thread_init();
  cofcgi_test::MariadbServerOptions server_options;
  server_options.extra_args = o.server_args;
  cofcgi_test::MariadbServer srv(server_options);
  srv.start();
  if (o.client_cpu >= 0) {
    if (!pin_process(getpid(), o.client_cpu) || !pin_process(srv.pid(), o.server_cpu)) {
      std::fprintf(stderr, "--pin: sched_setaffinity failed\n");
      return 1;
    }
  }
  std::string server_version = "?";
  {
    MYSQL* m = connect_raw(config_for(srv, true, 1));
    server_version = mysql_get_server_info(m);
    mysql_close(m);
  }
  std::printf(
      "private mariadbd %s (bootstrap %lld ms, start %lld ms); libmariadb %s; %u cores; "
      "%d workers, %.1f s per measurement after %.1f s warm-up\n\n",
      server_version.c_str(), static_cast<long long>(srv.bootstrap_time().count()),
      static_cast<long long>(srv.last_start_time().count()), mysql_get_client_info(),
      std::thread::hardware_concurrency(), o.workers, o.seconds, o.warmup);
  std::fflush(stdout);

  std::vector<Sample> samples;
  for (int round = 0; round < o.rounds; ++round) {
    for (const bool unix_socket : {false, true}) {
      if (unix_socket ? !o.unix_socket : !o.tcp) continue;
      if (o.coroutines) samples.push_back(run_coroutines(srv, unix_socket, o));
      if (o.threads) samples.push_back(run_threads(srv, unix_socket, o));
    }
  }

  std::printf(
      "| client | transport | workers | client threads | seconds | round trips | round trips/s | "
      "p50 µs | p99 µs | max µs | client CPU s | client CPU µs/rt | server CPU s | server CPU "
      "µs/rt | "
      "errors |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& s : samples) {
    char max_text[32];
    std::snprintf(max_text, sizeof max_text, s.max_us >= 100000 ? ">= %.0f" : "%.0f", s.max_us);
    const double rt = s.round_trips ? static_cast<double>(s.round_trips) : 1.0;
    std::printf(
        "| %s | %s | %d | %d | %.2f | %lld | %.0f | %.0f | %.0f | %s | %.2f | %.1f | %.2f | %.1f | "
        "%lld |\n",
        s.client.c_str(), s.transport.c_str(), s.workers, s.threads, s.seconds, s.round_trips,
        static_cast<double>(s.round_trips) / s.seconds, s.p50_us, s.p99_us, max_text, s.cpu_s,
        s.cpu_s * 1e6 / rt, s.server_cpu_s, s.server_cpu_s * 1e6 / rt, s.errors);
  }
  srv.stop();
  return 0;
}
