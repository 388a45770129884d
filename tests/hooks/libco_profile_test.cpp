// The seed libco variant's profile (co_set_libco_timeouts, issue 17), switched on by the call
// (tests/libco_compat runs whole programs with the environment variable): in co_create
// coroutines with hooks on, a timeout is errno LIBCO_POLL_TIMEOUT and sockets with no
// SO_RCVTIMEO/SO_SNDTIMEO get the profile's default timeouts; co::go coroutines keep POSIX;
// co_accept returns an O_NONBLOCK socket. Every case switches the profile off again.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <utility>

#include "co_routine.h"
#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"

using hooks_test::Fd;
using hooks_test::seconds_since;

namespace {

struct LibcoRun {
  std::function<void()> body;
  bool done = false;
};

void* libco_trampoline(void* arg) {
  co_enable_hook_sys();
  auto* run = static_cast<LibcoRun*>(arg);
  run->body();
  run->done = true;
  return nullptr;
}

// run_libco runs body in a co_create coroutine with hooks on, driven by co_eventloop.
void run_libco(std::function<void()> body) {
  LibcoRun run{std::move(body)};
  stCoRoutine_t* co = nullptr;
  REQUIRE(co_create(&co, nullptr, libco_trampoline, &run) == 0);
  co_resume(co);
  if (!run.done) {
    co_eventloop(
        co_get_epoll_ct(), [](void* arg) { return static_cast<LibcoRun*>(arg)->done ? -1 : 0; },
        &run);
  }
  co_release(co);
}

// ProfileOn switches the profile on for a scope.
struct ProfileOn {
  ProfileOn(int read_ms, int write_ms) { co_set_libco_timeouts(1, read_ms, write_ms); }
  ~ProfileOn() { co_set_libco_timeouts(0, -1, -1); }
};

void set_timeout(int fd, int opt, long usec) {
  const timeval tv{usec / 1'000'000, usec % 1'000'000};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) == 0);
}

struct Timed {
  ssize_t r = 0;
  int err = 0;
  double seconds = 0;
};

Timed timed_read(int fd) {
  Timed t;
  char buf[8];
  const co::Deadline start = co::now_ns();
  errno = 0;
  t.r = ::read(fd, buf, sizeof buf);
  t.err = errno;
  t.seconds = seconds_since(start);
  return t;
}

}  // namespace

TEST_CASE("libco profile: off, a co_create coroutine's read timeout is EAGAIN and no default") {
  cofcgi_test::LeakCheck leaks;
  co_set_libco_timeouts(0, -1, -1);
  CHECK_FALSE(co::libco_profile().enabled);
  auto timed = hooks_test::socket_pair();
  set_timeout(timed.a.get(), SO_RCVTIMEO, 100'000);
  auto untimed = hooks_test::socket_pair();
  Timed with_timeout, without;
  run_libco([&] {
    with_timeout = timed_read(timed.a.get());
    co::go([&] {
      ::usleep(300'000);  // longer than any default timeout would be
      REQUIRE(::write(untimed.b.get(), "x", 1) == 1);
    });
    without = timed_read(untimed.a.get());
  });
  CHECK(with_timeout.r == -1);
  CHECK(with_timeout.err == EAGAIN);
  CHECK(without.r == 1);
  CHECK(without.seconds >= 0.25);
}

TEST_CASE("libco profile: on, timeouts are LIBCO_POLL_TIMEOUT and sockets get the default") {
  cofcgi_test::LeakCheck leaks;
  ProfileOn profile(400, 400);
  auto timed = hooks_test::socket_pair();
  set_timeout(timed.a.get(), SO_RCVTIMEO, 50'000);  // the socket's own timeout wins
  auto untimed = hooks_test::socket_pair();
  Timed own, dflt;
  bool active = false;
  run_libco([&] {
    active = co::libco_profile().active;
    own = timed_read(timed.a.get());
    dflt = timed_read(untimed.a.get());
  });
  CHECK(active);
  CHECK(own.r == -1);
  CHECK(own.err == LIBCO_POLL_TIMEOUT);
  CHECK(own.seconds >= 0.045);
  CHECK(own.seconds < 0.3 * hooks_test::kSlack);
  CHECK(dflt.r == -1);
  CHECK(dflt.err == LIBCO_POLL_TIMEOUT);
  CHECK(dflt.seconds >= 0.39);
  CHECK(dflt.seconds < 2.0 * hooks_test::kSlack);
}

TEST_CASE("libco profile: on, a write to a full socket times out with LIBCO_POLL_TIMEOUT") {
  cofcgi_test::LeakCheck leaks;
  ProfileOn profile(-1, 100);
  auto pair = hooks_test::socket_pair();
  char chunk[4096] = {};
  while (::send(pair.a.get(), chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
  }
  Timed w;
  run_libco([&] {
    const co::Deadline start = co::now_ns();
    errno = 0;
    w.r = ::write(pair.a.get(), chunk, 1);
    w.err = errno;
    w.seconds = seconds_since(start);
  });
  CHECK(w.r == -1);
  CHECK(w.err == LIBCO_POLL_TIMEOUT);
  CHECK(w.seconds >= 0.09);
  CHECK(w.seconds < 0.9 * hooks_test::kSlack);
}

TEST_CASE("libco profile: on, read 0 means no default, SO_RCVTIMEO still reports the errno") {
  cofcgi_test::LeakCheck leaks;
  ProfileOn profile(0, 0);
  auto timed = hooks_test::socket_pair();
  set_timeout(timed.a.get(), SO_RCVTIMEO, 50'000);
  auto untimed = hooks_test::socket_pair();
  Timed own, without;
  run_libco([&] {
    own = timed_read(timed.a.get());
    co::go([&] {
      ::usleep(200'000);
      REQUIRE(::write(untimed.b.get(), "x", 1) == 1);
    });
    without = timed_read(untimed.a.get());
  });
  CHECK(own.err == LIBCO_POLL_TIMEOUT);
  CHECK(without.r == 1);
  CHECK(without.seconds >= 0.15);
}

TEST_CASE("libco profile: on, co::go coroutines and hooks-off coroutines keep POSIX") {
  cofcgi_test::LeakCheck leaks;
  ProfileOn profile(50, 50);
  auto timed = hooks_test::socket_pair();
  set_timeout(timed.a.get(), SO_RCVTIMEO, 100'000);
  auto untimed = hooks_test::socket_pair();
  Timed go_timed, go_untimed, hooks_off;
  bool go_active = true;
  co::go([&] {
    go_active = co::libco_profile().active;
    go_timed = timed_read(timed.a.get());
    co::go([&] {
      ::usleep(200'000);  // four default timeouts
      REQUIRE(::write(untimed.b.get(), "x", 1) == 1);
    });
    go_untimed = timed_read(untimed.a.get());
  });
  co::run();
  CHECK_FALSE(go_active);
  CHECK(go_timed.err == EAGAIN);
  CHECK(go_untimed.r == 1);
  CHECK(go_untimed.seconds >= 0.15);
  run_libco([&] {
    co_disable_hook_sys();
    hooks_off = timed_read(timed.a.get());  // the kernel's own SO_RCVTIMEO
  });
  CHECK(hooks_off.r == -1);
  CHECK(hooks_off.err == EAGAIN);
}

TEST_CASE("libco profile: co_accept's socket is O_NONBLOCK with the profile on, not off") {
  cofcgi_test::LeakCheck leaks;
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port);
  const sockaddr_in addr = hooks_test::loopback(port);
  auto accept_one = [&](bool profile_on, int* flags, Timed* read_result) {
    if (profile_on) co_set_libco_timeouts(1, -1, -1);
    Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::connect(client.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    run_libco([&] {
      Fd accepted(co_accept(listener.get(), nullptr, nullptr));
      REQUIRE(accepted);
      *flags = ::fcntl(accepted.get(), F_GETFL);
      if (profile_on) *read_result = timed_read(accepted.get());
    });
    co_set_libco_timeouts(0, -1, -1);
  };
  int on_flags = 0, off_flags = 0;
  Timed on_read, unused;
  accept_one(true, &on_flags, &on_read);
  accept_one(false, &off_flags, &unused);
  CHECK((on_flags & O_NONBLOCK) != 0);
  CHECK(on_read.r == -1);
  CHECK(on_read.err == EAGAIN);  // non-blocking: at once, not after a timeout
  CHECK(on_read.seconds < 0.5);  // the default timeout is 1 s
  CHECK((off_flags & O_NONBLOCK) == 0);
}
