// Hooked libc calls in a cancelled coroutine or past its DeadlineScope (cofcgi/runtime/
// cancel.h): a call that would park fails with ECANCELED/ETIMEDOUT instead (a parked one is
// woken), a call that can complete without waiting completes, and the socket's own timeout
// keeps its EAGAIN.
#include <doctest/doctest.h>
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>

#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"

using namespace std::chrono_literals;
using hooks_test::seconds_since;

namespace {

// The blocking calls under test, each on fds nobody writes to. errno after a -1 is the
// result; 0 means the call returned without an error.
struct Blockers {
  hooks_test::Pair sockets = hooks_test::socket_pair();
  hooks_test::Pair full = hooks_test::socket_pair();  // its send buffer is filled first
  hooks_test::Pair pipe = hooks_test::pipe_pair();
  hooks_test::Fd listener;
  hooks_test::Fd epoll_fd{::epoll_create1(EPOLL_CLOEXEC)};

  Blockers() {
    std::uint16_t port = 0;
    listener = hooks_test::tcp_listener(&port);
    REQUIRE(epoll_fd);
    epoll_event ev{};
    ev.events = EPOLLIN;
    REQUIRE(::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, sockets.a.get(), &ev) == 0);
    const int sndbuf = 4096;
    REQUIRE(::setsockopt(full.a.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
    char chunk[4096] = {};
    while (::send(full.a.get(), chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
    }
  }

  static int result(long rc) { return rc < 0 ? errno : 0; }

  std::function<int()> by_name(const std::string& name) {
    char buf[64];
    if (name == "read")
      return [=, this]() mutable { return result(::read(sockets.a.get(), buf, 1)); };
    if (name == "recv")
      return [=, this]() mutable { return result(::recv(sockets.a.get(), buf, 1, 0)); };
    if (name == "read(pipe)")
      return [=, this]() mutable { return result(::read(pipe.a.get(), buf, 1)); };
    if (name == "send(full)") {
      return [this] {
        static char chunk[65536];
        return result(::send(full.a.get(), chunk, sizeof chunk, 0));
      };
    }
    if (name == "accept")
      return [this] { return result(::accept(listener.get(), nullptr, nullptr)); };
    if (name == "poll") {
      return [this] {
        pollfd p{sockets.a.get(), POLLIN, 0};
        return result(::poll(&p, 1, 10000));
      };
    }
    if (name == "select") {
      return [this] {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(sockets.a.get(), &r);
        timeval tv{10, 0};
        return result(::select(sockets.a.get() + 1, &r, nullptr, nullptr, &tv));
      };
    }
    if (name == "epoll_wait") {
      return [this] {
        epoll_event ev{};
        return result(::epoll_wait(epoll_fd.get(), &ev, 1, 10000));
      };
    }
    if (name == "usleep") return [] { return result(::usleep(10'000'000)); };
    if (name == "nanosleep") {
      return [] {
        timespec req{10, 0}, rem{0, 0};
        const int rc = ::nanosleep(&req, &rem);
        const int err = errno;
        if (rc == 0) return 0;
        CHECK(rem.tv_sec >= 9);  // the time left, as after a signal
        return err;
      };
    }
    if (name == "clock_nanosleep") {
      return [] {
        timespec req{10, 0};
        return ::clock_nanosleep(CLOCK_MONOTONIC, 0, &req, nullptr);  // returns the error
      };
    }
    FAIL("no call named " << name);
    return {};
  }
};

const char* const kCalls[] = {"read",   "recv",      "read(pipe)",     "send(full)",
                              "accept", "poll",      "select",         "epoll_wait",
                              "usleep", "nanosleep", "clock_nanosleep"};

}  // namespace

TEST_CASE("hooks cancel: a parked call is woken with ECANCELED and the next fails at once") {
  for (const char* name : kCalls) {
    CAPTURE(name);
    cofcgi_test::LeakCheck leaks;
    Blockers b;
    int first = 0, second = 0, ticks = 0, ticks_during_second = -1;
    double waited = 0;
    co::CancelHandle handle;
    co::go([&] {
      handle = co::CancelHandle::current();
      const co::Deadline start = co::now_ns();
      first = b.by_name(name)();
      waited = seconds_since(start);
      const int before = ticks;
      second = b.by_name(name)();
      ticks_during_second = ticks - before;
    });
    co::go([&] {
      for (; ticks < 3; ++ticks) co::sleep_for(2ms);
      handle.cancel();
    });
    co::run();
    CHECK(first == ECANCELED);
    CHECK(second == ECANCELED);
    CHECK(ticks_during_second == 0);  // refused without parking
    CHECK(waited < 2.0);
  }
}

TEST_CASE("hooks cancel: DeadlineScope makes a parked call fail with ETIMEDOUT in time") {
  for (const char* name : kCalls) {
    CAPTURE(name);
    cofcgi_test::LeakCheck leaks;
    Blockers b;
    int err = 0;
    double waited = 0;
    co::go([&] {
      co::DeadlineScope scope(20ms);
      const co::Deadline start = co::now_ns();
      err = b.by_name(name)();
      waited = seconds_since(start);
    });
    co::run();
    CHECK(err == ETIMEDOUT);
    CHECK(waited >= 0.019);
    CHECK(waited < 2.0);
  }
}

TEST_CASE("hooks cancel: what completes without waiting still completes when cancelled") {
  cofcgi_test::LeakCheck leaks;
  hooks_test::Pair p = hooks_test::socket_pair();
  ssize_t wrote = 0, got = 0;
  int poll_ready = 0;
  co::go([&] {
    co::DeadlineScope scope(0ns);  // passed already
    wrote = ::write(p.a.get(), "x", 1);
    pollfd pfd{p.b.get(), POLLIN, 0};
    poll_ready = ::poll(&pfd, 1, 1000);
    char c;
    got = ::read(p.b.get(), &c, 1);
  });
  co::run();
  CHECK(wrote == 1);
  CHECK(poll_ready == 1);
  CHECK(got == 1);
}

TEST_CASE("hooks cancel: SO_RCVTIMEO before the scope's deadline is still EAGAIN") {
  cofcgi_test::LeakCheck leaks;
  hooks_test::Pair p = hooks_test::socket_pair();
  const timeval tv{0, 10'000};
  REQUIRE(::setsockopt(p.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  int err = 0;
  co::go([&] {
    co::DeadlineScope scope(10s);
    char c;
    if (::read(p.a.get(), &c, 1) < 0) err = errno;
  });
  co::run();
  CHECK(err == EAGAIN);
}
