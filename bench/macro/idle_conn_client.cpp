// idle_conn_client: opens N TCP connections to an echo server and holds them idle, for
// bench/run's "connections" scenario. Plain blocking sockets, no coroutines: it only has to
// be simple and correct. It runs as its own process so that the server has the whole fd limit
// to itself.
//
// 1. Raises the soft RLIMIT_NOFILE to the hard limit.
// 2. Opens the connections in batches: connects each of a batch, sends a short message naming
//    the connection on each, then reads every echo back and compares it. Once a connection
//    has echoed, its server coroutine has run and is parked in read().
// 3. Prints "held K of N ..." on stdout and waits for SIGUSR1 (SIGTERM or SIGINT: exit 2).
// 4. Sends a second message on every held connection, checks every echo, prints "verified K
//    of N ..." and exits 0 only if all N were held and all of them still echo.
// Every connect/send has a timeout, and every batch's echoes a deadline (--timeout-ms): a
// server that stops accepting (fd limit) shows up as failures, never as a hang. The first few
// failures are named on stderr.
//
// Usage: idle_conn_client --connect A.B.C.D:PORT --conns N [--batch 256] [--timeout-ms 10000]
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "net_util.h"

namespace {

constexpr long kFdsForStdio = 8;  // stdin/out/err and whatever the C library opens
constexpr long kFailuresShown = 5;

struct Config {
  std::optional<sockaddr_in> server;
  long conns = 0;
  long batch = 256;  // below the server's listen backlog: a burst never overflows it
  long timeout_ms = 10000;
};

struct Conn {
  bench::Fd fd;
  long index = 0;
  bool ok = true;
};

// Failures counts failed connections and names the first few on stderr.
class Failures {
 public:
  // note: what failed, and errno (0: the peer closed the connection).
  void note(long index, const char* what, int err) {
    if (count_++ < kFailuresShown) {
      std::fprintf(stderr, "idle_conn_client: connection %ld: %s: %s\n", index, what,
                   err != 0 ? std::strerror(err) : "closed by the server");
    }
  }
  long count() const { return count_; }

 private:
  long count_ = 0;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string message(long index, int pass) {
  return "conn " + std::to_string(index) + " pass " + std::to_string(pass) + "\n";
}

bool set_timeout(int fd, int option, long ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv) == 0;
}

bool send_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// recv_exact reads exactly size bytes; false with errno set (0: the peer closed first).
bool recv_exact(int fd, char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = recv(fd, data + done, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = 0;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// echo_round sends pass's message on every connection of conns[begin, end) that is still ok,
// then reads each echo back; a connection that fails is marked not ok. Sending to the whole
// batch first lets the server work on the batch while this process reads. The batch shares
// one deadline, timeout_ms from now: a server at its fd limit leaves a whole batch unanswered,
// and that must cost one timeout, not one per connection.
void echo_round(std::vector<Conn>& conns, std::size_t begin, std::size_t end, int pass,
                long timeout_ms, Failures* failures) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (std::size_t i = begin; i < end; ++i) {
    Conn& c = conns[i];
    if (c.ok && !send_all(c.fd.get(), message(c.index, pass))) {
      failures->note(c.index, "send", errno);
      c.ok = false;
    }
  }
  for (std::size_t i = begin; i < end; ++i) {
    Conn& c = conns[i];
    if (!c.ok) continue;
    const std::string expected = message(c.index, pass);
    std::string got(expected.size(), '\0');
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!set_timeout(c.fd.get(), SO_RCVTIMEO, std::max<long>(1, left.count())) ||
        !recv_exact(c.fd.get(), got.data(), got.size())) {
      failures->note(c.index, "echo", errno);
      c.ok = false;
    } else if (got != expected) {
      failures->note(c.index, "echo differs from what was sent", EPROTO);
      c.ok = false;
    }
  }
}

// open_connections connects config.conns sockets in batches and keeps those that echoed.
std::vector<Conn> open_connections(const Config& config, Failures* failures) {
  std::vector<Conn> held;
  held.reserve(static_cast<std::size_t>(config.conns));
  for (long first = 0; first < config.conns; first += config.batch) {
    const long last = std::min(config.conns, first + config.batch);
    const std::size_t begin = held.size();
    for (long i = first; i < last; ++i) {
      bench::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd) {
        failures->note(i, "socket", errno);
        continue;
      }
      const sockaddr_in& addr = *config.server;
      // SO_SNDTIMEO bounds connect() too (socket(7)).
      if (!set_timeout(fd.get(), SO_SNDTIMEO, config.timeout_ms) ||
          connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        failures->note(i, "connect", errno);
        continue;
      }
      held.push_back(Conn{std::move(fd), i, true});
    }
    echo_round(held, begin, held.size(), 1, config.timeout_ms, failures);
    held.erase(std::remove_if(held.begin() + static_cast<std::ptrdiff_t>(begin), held.end(),
                              [](const Conn& c) { return !c.ok; }),
               held.end());
  }
  return held;
}

bool parse_args(int argc, char** argv, Config* config) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    const char* value = argv[i + 1];
    std::optional<long> v;
    if (arg == "--connect") {
      config->server = bench::parse_endpoint(value);
      if (!config->server) return false;
      continue;
    }
    if (arg == "--conns") {
      v = bench::parse_long(value, 1, 100000000);
      if (v) config->conns = *v;
    } else if (arg == "--batch") {
      v = bench::parse_long(value, 1, 1000000);
      if (v) config->batch = *v;
    } else if (arg == "--timeout-ms") {
      v = bench::parse_long(value, 1, 3600 * 1000);
      if (v) config->timeout_ms = *v;
    }
    if (!v) return false;
  }
  return argc % 2 == 1 && config->server && config->conns > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  if (!parse_args(argc, argv, &config)) {
    std::fprintf(stderr,
                 "usage: idle_conn_client --connect A.B.C.D:PORT --conns N [--batch 256] "
                 "[--timeout-ms 10000]\n");
    return 2;
  }
  const long fd_limit = bench::raise_fd_limit();
  if (fd_limit >= 0 && config.conns + kFdsForStdio > fd_limit) {
    std::fprintf(stderr, "idle_conn_client: fd limit %ld is too low for %ld connections\n",
                 fd_limit, config.conns);
    return 2;
  }
  // Blocked before anything else, so that a SIGUSR1 sent early stays pending for sigwait.
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, SIGUSR1);
  sigaddset(&wake, SIGTERM);
  sigaddset(&wake, SIGINT);
  if (sigprocmask(SIG_BLOCK, &wake, nullptr) != 0) {
    std::perror("idle_conn_client: sigprocmask");
    return 2;
  }

  Failures failures;
  auto start = std::chrono::steady_clock::now();
  std::vector<Conn> held = open_connections(config, &failures);
  std::printf("held %zu of %ld (connected and echoed in %.2f s; %ld failed)\n", held.size(),
              config.conns, seconds_since(start), failures.count());
  std::fflush(stdout);

  int signo = 0;
  if (sigwait(&wake, &signo) != 0 || signo != SIGUSR1) {
    std::fprintf(stderr, "idle_conn_client: stopped before the second pass\n");
    return 2;
  }

  Failures second;
  start = std::chrono::steady_clock::now();
  for (std::size_t first = 0; first < held.size();
       first += static_cast<std::size_t>(config.batch)) {
    echo_round(held, first, std::min(held.size(), first + static_cast<std::size_t>(config.batch)),
               2, config.timeout_ms, &second);
  }
  const long verified = std::count_if(held.begin(), held.end(), [](const Conn& c) { return c.ok; });
  std::printf("verified %ld of %ld still echo (%.2f s)\n", verified, config.conns,
              seconds_since(start));
  std::fflush(stdout);
  return verified == config.conns ? 0 : 1;
}
