// Timeouts as the kernel applies them to blocking sockets: SO_RCVTIMEO / SO_SNDTIMEO end a
// parked call with the errno libc would report, {0,0} means "no timeout", a connect to a
// peer that drops SYNs gives up after SO_SNDTIMEO, and without a timeout a long wait never
// ends early (libco imposed 1 s on every hooked socket).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"
#include "watchdog.h"

using hooks_test::Fd;
using hooks_test::seconds_since;
using hooks_test::Ticker;
using namespace std::chrono_literals;

namespace {

void set_timeout(int fd, int opt, long usec) {
  const timeval tv{usec / 1'000'000, usec % 1'000'000};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) == 0);
}

// A loopback listener with backlog 0 whose accept queue is full: further SYNs are dropped,
// so a connect to it stays in SYN_SENT (the first SYN retransmission is 1 s away).
struct Blackhole {
  Fd listener;
  std::vector<Fd> fillers;
  sockaddr_in addr{};
  Blackhole() {
    std::uint16_t port = 0;
    listener = hooks_test::tcp_listener(&port, 0);
    addr = hooks_test::loopback(port);
    for (int i = 0; i < 3; ++i) {
      Fd f(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      REQUIRE(f);
      const int r = ::connect(f.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
      REQUIRE((r == 0 || errno == EINPROGRESS));
      fillers.push_back(std::move(f));
    }
    ::usleep(50'000);  // let the handshakes that can complete complete
  }
};

struct ConnectResult {
  int r = 0;
  int err = 0;
  double seconds = 0;
};

ConnectResult timed_connect(const sockaddr_in& addr, long sndtimeo_us) {
  ConnectResult res;
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(s);
  set_timeout(s.get(), SO_SNDTIMEO, sndtimeo_us);
  const co::Deadline start = co::now_ns();
  errno = 0;
  res.r = ::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  res.err = errno;
  res.seconds = seconds_since(start);
  return res;
}

}  // namespace

TEST_CASE("timeouts: SO_RCVTIMEO of 100 ms on a silent peer gives EAGAIN while others run") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  set_timeout(pair.a.get(), SO_RCVTIMEO, 100'000);
  Ticker ticker;
  ssize_t r = 0;
  int err = 0;
  double seconds = 0;
  ticker.start();
  co::go([&] {
    char buf[8];
    const co::Deadline start = co::now_ns();
    errno = 0;
    r = ::read(pair.a.get(), buf, sizeof buf);
    err = errno;
    seconds = seconds_since(start);
    ticker.running = false;
  });
  co::run();
  CHECK(r == -1);
  CHECK(err == EAGAIN);
  CHECK(seconds >= 0.09);
  CHECK(seconds < 0.6);
  CHECK(ticker.ticks >= 3);  // ~10 if the thread was free while read waited
}

TEST_CASE("timeouts: the same timeout outside a coroutine, for comparison with the kernel") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  set_timeout(pair.a.get(), SO_RCVTIMEO, 100'000);
  char buf[8];
  const co::Deadline start = co::now_ns();
  errno = 0;
  CHECK(::read(pair.a.get(), buf, sizeof buf) == -1);
  CHECK(errno == EAGAIN);
  CHECK(seconds_since(start) >= 0.09);
}

TEST_CASE("timeouts: SO_RCVTIMEO {0,0} means no timeout, not 'do not wait'") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  set_timeout(pair.a.get(), SO_RCVTIMEO, 100'000);
  set_timeout(pair.a.get(), SO_RCVTIMEO, 0);  // and setting it back to zero clears it
  ssize_t r = 0;
  char got = 0;
  double seconds = 0;
  co::go([&] {
    const co::Deadline start = co::now_ns();
    r = ::read(pair.a.get(), &got, 1);
    seconds = seconds_since(start);
  });
  co::go([&] {
    ::usleep(300'000);
    (void)!::write(pair.b.get(), "z", 1);
  });
  co::run();
  CHECK(r == 1);
  CHECK(got == 'z');
  CHECK(seconds >= 0.29);
}

TEST_CASE(
    "timeouts: SO_SNDTIMEO ends a write parked on a full socket with EAGAIN, as the kernel does") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  static const char chunk[4096] = {};
  while (::send(pair.a.get(), chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
  }
  set_timeout(pair.a.get(), SO_SNDTIMEO, 100'000);
  // The kernel, from the thread's own stack:
  const co::Deadline k0 = co::now_ns();
  errno = 0;
  const ssize_t kr = ::write(pair.a.get(), chunk, 100);
  const int kerr = errno;
  const double kseconds = seconds_since(k0);
  CHECK(kr == -1);
  CHECK(kerr == EAGAIN);
  CHECK(kseconds >= 0.09);
  // The hook:
  ssize_t r = 0;
  int err = 0;
  double seconds = 0;
  Ticker ticker;
  ticker.start();
  co::go([&] {
    const co::Deadline start = co::now_ns();
    errno = 0;
    r = ::write(pair.a.get(), chunk, 100);
    err = errno;
    seconds = seconds_since(start);
    ticker.running = false;
  });
  co::run();
  CHECK(r == kr);
  CHECK(err == kerr);
  CHECK(seconds >= 0.09);
  CHECK(seconds < 0.6);
  CHECK(ticker.ticks >= 3);
}

TEST_CASE("timeouts: connect to a blackhole with SO_SNDTIMEO 200 ms fails like the kernel's") {
  cofcgi_test::LeakCheck leaks;
  Blackhole hole;
  // What the kernel does for a blocking connect outside any coroutine:
  const ConnectResult kernel = timed_connect(hole.addr, 200'000);
  REQUIRE(kernel.r == -1);  // else the blackhole is not one (the queue did not fill)
  CHECK((kernel.err == EINPROGRESS || kernel.err == ETIMEDOUT));
  CHECK(kernel.seconds >= 0.19);
  CHECK(kernel.seconds < 0.9);
  MESSAGE("kernel: connect timed out with errno "
          << kernel.err << " (" << std::string(std::strerror(kernel.err)) << ") after "
          << kernel.seconds << " s");
  // The hook, with another coroutine running meanwhile:
  ConnectResult hooked;
  Ticker ticker;
  ticker.start();
  co::go([&] {
    hooked = timed_connect(hole.addr, 200'000);
    ticker.running = false;
  });
  co::run();
  CHECK(hooked.r == -1);
  CHECK(hooked.err == kernel.err);
  CHECK(hooked.seconds >= 0.19);
  CHECK(hooked.seconds < 0.9);
  CHECK(ticker.ticks >= 5);
}

TEST_CASE("timeouts: a connect with no SO_SNDTIMEO is not cut short by a default timeout") {
  cofcgi_test::LeakCheck leaks;
  Blackhole hole;
  bool finished = false;
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(s);
  co::go([&] {
    (void)::connect(s.get(), reinterpret_cast<const sockaddr*>(&hole.addr), sizeof hole.addr);
    finished = true;
  });
  bool finished_early = true;
  co::go([&] {
    ::usleep(500'000);
    finished_early = finished;
    ::shutdown(s.get(), SHUT_RDWR);  // ends the attempt (the kernel reports it to connect)
    ::close(s.release());            // and wakes the parked connect
  });
  co::run();
  CHECK_FALSE(finished_early);
  CHECK(finished);
}

TEST_CASE("timeouts: a long query-like read (1.3 s) does not time out by default") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  ssize_t r = 0;
  int err = 0;
  double seconds = 0;
  char buf[16] = {};
  co::go([&] {
    const co::Deadline start = co::now_ns();
    errno = 0;
    r = ::read(pair.a.get(), buf, sizeof buf);
    err = errno;  // untouched on success, as libc leaves it
    seconds = seconds_since(start);
  });
  co::go([&] {
    ::usleep(1'300'000);
    (void)!::write(pair.b.get(), "result", 6);
  });
  co::run();
  CHECK(r == 6);
  CHECK(err == 0);
  CHECK(std::memcmp(buf, "result", 6) == 0);
  CHECK(seconds >= 1.29);
}

TEST_CASE("timeouts: accept honours SO_RCVTIMEO, in a coroutine and on the thread's own stack") {
  cofcgi_test::LeakCheck leaks;
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port);
  set_timeout(listener.get(), SO_RCVTIMEO, 100'000);
  // In a coroutine (this also makes the hooks switch the listener to non-blocking).
  int r = 0;
  int err = 0;
  double seconds = 0;
  co::go([&] {
    const co::Deadline start = co::now_ns();
    errno = 0;
    r = ::accept(listener.get(), nullptr, nullptr);
    err = errno;
    seconds = seconds_since(start);
  });
  co::run();
  CHECK(r == -1);
  CHECK(err == EAGAIN);
  CHECK(seconds >= 0.09);
  CHECK(seconds < 0.6);
  // On the thread's own stack, the kernel's timeout must still apply, although the hooks
  // made the file non-blocking. A watchdog connects after 2 s in case it does not.
  sockaddr_in addr = hooks_test::loopback(port);
  Fd rescue_client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  hooks_test::Watchdog watchdog(2000ms, [&] {
    (void)::connect(rescue_client.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  });
  const co::Deadline start = co::now_ns();
  errno = 0;
  Fd accepted(::accept(listener.get(), nullptr, nullptr));
  const int main_err = errno;
  const double main_seconds = seconds_since(start);
  watchdog.stop();
  CHECK_FALSE(watchdog.fired());
  CHECK_FALSE(accepted);
  CHECK(main_err == EAGAIN);
  CHECK(main_seconds >= 0.09);
  CHECK(main_seconds < 0.6);
}

TEST_CASE("timeouts: an accepted socket inherits the listener's SO_RCVTIMEO, as in the kernel") {
  cofcgi_test::LeakCheck leaks;
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port);
  set_timeout(listener.get(), SO_RCVTIMEO, 150'000);
  const sockaddr_in addr = hooks_test::loopback(port);
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::connect(client.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  ssize_t r = 0;
  int err = 0;
  double seconds = 0;
  timeval inherited{};
  bool stop_writer = false;
  co::go([&] {
    Fd c(::accept(listener.get(), nullptr, nullptr));
    if (!c) return;
    socklen_t len = sizeof inherited;
    (void)::getsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &inherited, &len);
    char buf[4];
    const co::Deadline start = co::now_ns();
    errno = 0;
    r = ::read(c.get(), buf, sizeof buf);  // the client stays silent
    err = errno;
    seconds = seconds_since(start);
    stop_writer = true;
  });
  // A watchdog in the same thread: if the timeout is lost the read would wait forever;
  // after 2 s send a byte so the test ends (and fails on the checks).
  co::go([&] {
    for (int i = 0; i < 200 && !stop_writer; ++i) ::usleep(10'000);
    if (!stop_writer) (void)!::write(client.get(), "x", 1);
  });
  co::run();
  CHECK(inherited.tv_sec == 0);
  CHECK(inherited.tv_usec >= 140'000);  // the kernel keeps jiffies: 150 ms may read back as 152
  CHECK(inherited.tv_usec <= 160'000);
  CHECK(r == -1);
  CHECK(err == EAGAIN);
  CHECK(seconds >= 0.14);
  CHECK(seconds < 0.7);
}
