// libc semantics the hooks must keep: O_NONBLOCK as the user set it, the flags F_GETFL
// reports, errno on success and failure across a park, close() waking a parked reader, dup'd
// fds, fcntl commands passed to the kernel, fds the hooks never saw created, and plain
// blocking behaviour outside coroutines.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"
#include "watchdog.h"

using hooks_test::Fd;
using hooks_test::seconds_since;
using hooks_test::Ticker;
using namespace std::chrono_literals;

namespace {

struct CallResult {
  long r = 0;
  int err = 0;
  double seconds = 0;
};

template <typename F>
CallResult timed(F call) {
  CallResult res;
  const co::Deadline start = co::now_ns();
  errno = 0;
  res.r = static_cast<long>(call());
  res.err = errno;
  res.seconds = seconds_since(start);
  return res;
}

}  // namespace

TEST_CASE("semantics: an fd the user made non-blocking keeps returning EAGAIN in a coroutine") {
  cofcgi_test::LeakCheck leaks;
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  Fd a(sv[0]), b(sv[1]);
  auto later = hooks_test::socket_pair();
  REQUIRE(::fcntl(later.a.get(), F_SETFL, ::fcntl(later.a.get(), F_GETFL) | O_NONBLOCK) == 0);
  auto by_ioctl = hooks_test::socket_pair();
  int on = 1;
  REQUIRE(::ioctl(by_ioctl.a.get(), FIONBIO, &on) == 0);
  int p[2];
  REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  Fd pr(p[0]), pw(p[1]);
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port, 16, SOCK_NONBLOCK);
  CallResult r_flag, r_fcntl, r_ioctl, r_pipe, r_accept, r_recv;
  co::go([&] {
    char buf[8];
    r_flag = timed([&] { return ::read(a.get(), buf, sizeof buf); });
    r_fcntl = timed([&] { return ::recv(later.a.get(), buf, sizeof buf, 0); });
    r_ioctl = timed([&] { return ::read(by_ioctl.a.get(), buf, sizeof buf); });
    r_pipe = timed([&] { return ::read(pr.get(), buf, sizeof buf); });
    r_accept = timed([&] { return ::accept(listener.get(), nullptr, nullptr); });
    // MSG_DONTWAIT on a blocking socket: also "do not wait".
    r_recv = timed([&] { return ::recv(b.get(), buf, sizeof buf, MSG_DONTWAIT); });
  });
  co::run();
  for (const CallResult* r : {&r_flag, &r_fcntl, &r_ioctl, &r_pipe, &r_accept, &r_recv}) {
    CHECK(r->r == -1);
    CHECK(r->err == EAGAIN);
    CHECK(r->seconds < 0.05);
  }
}

TEST_CASE("semantics: a connect on a non-blocking socket returns EINPROGRESS at once") {
  cofcgi_test::LeakCheck leaks;
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port);
  const sockaddr_in addr = hooks_test::loopback(port);
  CallResult res;
  co::go([&] {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    res = timed(
        [&] { return ::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr); });
    // Loopback may complete at once; either way the socket stays non-blocking.
    CHECK((::fcntl(s.get(), F_GETFL) & O_NONBLOCK) != 0);
  });
  co::run();
  CHECK((res.r == 0 || (res.r == -1 && res.err == EINPROGRESS)));
  CHECK(res.seconds < 0.05);
}

TEST_CASE("semantics: F_GETFL reports exactly the flags the user set") {
  cofcgi_test::LeakCheck leaks;
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port);
  const int before = ::fcntl(listener.get(), F_GETFL);
  REQUIRE(before >= 0);
  REQUIRE((before & O_NONBLOCK) == 0);
  const sockaddr_in addr = hooks_test::loopback(port);
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int client_before = ::fcntl(client.get(), F_GETFL);
  int during_accept = -1;
  int client_during = -1;
  co::go([&] {
    Fd c(::accept(listener.get(), nullptr, nullptr));  // parks: the hooks force O_NONBLOCK
    CHECK(c);
  });
  co::go([&] {
    during_accept = ::fcntl(listener.get(), F_GETFL);
    CHECK(::connect(client.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    client_during = ::fcntl(client.get(), F_GETFL);
  });
  co::run();
  // The kernel's file is non-blocking now; the user still sees what they set.
  CHECK(during_accept == before);
  CHECK(::fcntl(listener.get(), F_GETFL) == before);
  CHECK(client_during == client_before);
  CHECK(::fcntl(client.get(), F_GETFL) == client_before);
  // A dup shares the open file description: same view.
  Fd dupped(::dup(listener.get()));
  CHECK(::fcntl(dupped.get(), F_GETFL) == before);
  // The user turns O_NONBLOCK on and off: reported as set, and it takes effect.
  REQUIRE(::fcntl(listener.get(), F_SETFL, before | O_NONBLOCK) == 0);
  CHECK(::fcntl(listener.get(), F_GETFL) == (before | O_NONBLOCK));
  CallResult nb;
  co::go([&] { nb = timed([&] { return ::accept(listener.get(), nullptr, nullptr); }); });
  co::run();
  CHECK(nb.r == -1);
  CHECK(nb.err == EAGAIN);
  REQUIRE(::fcntl(listener.get(), F_SETFL, before) == 0);
  CHECK(::fcntl(listener.get(), F_GETFL) == before);
  // FIONBIO is the same switch.
  int on = 1;
  REQUIRE(::ioctl(listener.get(), FIONBIO, &on) == 0);
  CHECK(::fcntl(listener.get(), F_GETFL) == (before | O_NONBLOCK));
  int off = 0;
  REQUIRE(::ioctl(listener.get(), FIONBIO, &off) == 0);
  CHECK(::fcntl(listener.get(), F_GETFL) == before);
}

TEST_CASE("semantics: errno across a park: unchanged on success, the call's own on failure") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  auto silent = hooks_test::socket_pair();
  const timeval tv{0, 100'000};
  REQUIRE(::setsockopt(silent.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  ssize_t r_ok = 0, r_fail = 0;
  int errno_ok = 0, errno_fail = 0, errno_sleep = 0, errno_poll = 0;
  co::go([&] {
    char buf[4];
    errno = EDOM;
    r_ok = ::read(pair.a.get(), buf, sizeof buf);  // parks; succeeds after the writer runs
    errno_ok = errno;
  });
  co::go([&] {
    char buf[4];
    errno = EDOM;
    r_fail = ::read(silent.a.get(), buf, sizeof buf);  // parks; times out
    errno_fail = errno;
  });
  co::go([&] {
    errno = ERANGE;
    ::usleep(50'000);
    errno_sleep = errno;
  });
  co::go([&] {
    errno = EILSEQ;
    pollfd p{pair.b.get(), POLLOUT, 0};
    (void)::poll(nullptr, 0, 30);
    (void)::poll(&p, 1, 100);
    errno_poll = errno;
  });
  co::go([&] {
    // Runs while the others are parked and scribbles over the thread's errno.
    for (int i = 0; i < 8; ++i) {
      errno = EPERM;
      ::usleep(20'000);
      errno = ENOENT;
    }
    (void)!::write(pair.b.get(), "abc", 3);
    errno = EXDEV;
  });
  co::run();
  CHECK(r_ok == 3);
  CHECK(errno_ok == EDOM);
  CHECK(r_fail == -1);
  CHECK(errno_fail == EAGAIN);
  CHECK(errno_sleep == ERANGE);
  CHECK(errno_poll == EILSEQ);
}

TEST_CASE("semantics: close() of an fd another coroutine is reading wakes it with EBADF") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  auto pipe = hooks_test::pipe_pair();
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port);
  CallResult sock_read, pipe_read, accepted;
  co::Deadline closed_at = 0;
  co::go([&] {
    sock_read = timed([&] {
      char c;
      return ::read(pair.a.get(), &c, 1);
    });
  });
  co::go([&] {
    pipe_read = timed([&] {
      char c;
      return ::read(pipe.a.get(), &c, 1);
    });
  });
  co::go([&] { accepted = timed([&] { return ::accept(listener.get(), nullptr, nullptr); }); });
  co::go([&] {
    ::usleep(100'000);
    closed_at = co::now_ns();
    pair.a.reset();
    pipe.a.reset();
    listener.reset();
  });
  const co::Deadline start = co::now_ns();
  co::run();
  const double close_after = static_cast<double>(closed_at - start) / 1e9;
  for (const CallResult* r : {&sock_read, &pipe_read, &accepted}) {
    CHECK(r->r == -1);
    CHECK(r->err == EBADF);
    CHECK(r->seconds >= 0.09);
    CHECK(r->seconds < close_after + 0.1);  // promptly after the close
  }
}

TEST_CASE("semantics: dup'd fds park and wake; closing a dup leaves the original working") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  Fd d1(::dup(pair.a.get()));
  Fd d2(::fcntl(pair.a.get(), F_DUPFD_CLOEXEC, 100));
  Fd d3(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));  // a number for dup2 to reuse
  REQUIRE(d1);
  REQUIRE(d2.get() >= 100);
  REQUIRE(::dup2(pair.a.get(), d3.get()) == d3.get());
  std::string got;
  int ticks_seen = -1;
  Ticker ticker;
  ticker.start();
  co::go([&] {
    for (int fd : {d1.get(), d2.get(), d3.get()}) {
      char c = 0;
      if (::read(fd, &c, 1) == 1) got += c;
    }
    ticks_seen = ticker.ticks;
    d1.reset();
    d2.reset();
    d3.reset();
    char c = 0;
    if (::read(pair.a.get(), &c, 1) == 1) got += c;  // the original still parks and wakes
    ticker.running = false;
  });
  co::go([&] {
    for (char c : std::string("1234")) {
      ::usleep(50'000);
      (void)!::write(pair.b.get(), &c, 1);
    }
  });
  co::run();
  CHECK(got == "1234");
  CHECK(ticks_seen >=
        4);  // ~15 ticks of 10 ms in 150 ms when the reads park (fewer on a loaded machine)
}

TEST_CASE("semantics: fcntl commands libco refused reach the kernel") {
  cofcgi_test::LeakCheck leaks;
  auto pipe = hooks_test::pipe_pair();
  int dupfd = -1, cloexec = -1, set_sz = -1, get_sz = -1, get_sz64 = -1;
  co::go([&] {
    dupfd = ::fcntl(pipe.a.get(), F_DUPFD_CLOEXEC, 50);
    cloexec = ::fcntl(dupfd, F_GETFD);
    set_sz = ::fcntl(pipe.a.get(), F_SETPIPE_SZ, 128 * 1024);
    get_sz = ::fcntl(pipe.a.get(), F_GETPIPE_SZ);
    get_sz64 = ::fcntl64(pipe.b.get(), F_GETPIPE_SZ);
  });
  co::run();
  Fd owned(dupfd);
  CHECK(dupfd >= 50);
  CHECK(cloexec == FD_CLOEXEC);
  CHECK(set_sz >= 128 * 1024);
  CHECK(get_sz == set_sz);
  CHECK(get_sz64 == set_sz);
  // Outside a coroutine too.
  CHECK(::fcntl(pipe.a.get(), F_GETPIPE_SZ) == set_sz);
}

TEST_CASE("semantics: fds created before the coroutine park instead of blocking the thread") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();  // made on the thread's own stack
  // And a pair the hooks never saw created (raw syscall): learned on first use.
  int raw[2];
  REQUIRE(::syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, raw) == 0);
  Fd ra(raw[0]), rb(raw[1]);
  std::string got;
  int ticks_seen = -1;
  Ticker ticker;
  ticker.start();
  co::go([&] {
    char c = 0;
    if (::read(pair.a.get(), &c, 1) == 1) got += c;
    if (::read(ra.get(), &c, 1) == 1) got += c;
    ticks_seen = ticker.ticks;
    ticker.running = false;
  });
  co::go([&] {
    ::usleep(100'000);
    (void)!::write(pair.b.get(), "x", 1);
    ::usleep(100'000);
    (void)!::write(rb.get(), "y", 1);
  });
  co::run();
  CHECK(got == "xy");
  CHECK(ticks_seen >= 5);  // ~20 when the reads park
}

TEST_CASE("semantics: poll and select on the thread's own stack are the real calls") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  pollfd p{pair.a.get(), POLLIN, 0};
  CallResult silent = timed([&] { return ::poll(&p, 1, 50); });
  CHECK(silent.r == 0);
  CHECK(silent.seconds >= 0.049);
  CallResult sleepy = timed([&] { return ::poll(nullptr, 0, 30); });
  CHECK(sleepy.r == 0);
  CHECK(sleepy.seconds >= 0.029);
  (void)!::write(pair.b.get(), "r", 1);
  CHECK(::poll(&p, 1, 1000) == 1);
  CHECK((p.revents & POLLIN) != 0);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(pair.a.get(), &rd);
  timeval tv{1, 0};
  CHECK(::select(pair.a.get() + 1, &rd, nullptr, nullptr, &tv) == 1);
  CHECK(FD_ISSET(pair.a.get(), &rd));
  pollfd bad{987654, POLLIN, 0};
  CHECK(::poll(&bad, 1, 0) == 1);
  CHECK(bad.revents == POLLNVAL);
}

TEST_CASE("semantics: outside coroutines a blocking read on a pipe blocks until written") {
  cofcgi_test::LeakCheck leaks;
  auto pipe = hooks_test::pipe_pair();
  // The pipe was used by a coroutine first (registered with the netpoller).
  co::go([&] {
    (void)!::write(pipe.b.get(), "c", 1);
    char c;
    (void)!::read(pipe.a.get(), &c, 1);
  });
  co::run();
  std::thread writer([w = pipe.b.get()] {
    std::this_thread::sleep_for(100ms);
    (void)!::write(w, "main", 4);
  });
  char buf[8] = {};
  const CallResult r = timed([&] { return ::read(pipe.a.get(), buf, sizeof buf); });
  writer.join();
  CHECK(r.r == 4);
  CHECK(std::memcmp(buf, "main", 4) == 0);
  CHECK(r.seconds >= 0.09);
}

TEST_CASE(
    "semantics: outside coroutines accept on a listener the hooks made non-blocking still blocks") {
  cofcgi_test::LeakCheck leaks;
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port);
  const sockaddr_in addr = hooks_test::loopback(port);
  Fd c1(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  co::go([&] {
    Fd c(::accept(listener.get(), nullptr, nullptr));  // forces O_NONBLOCK on the file
    CHECK(c);
  });
  co::go([&] {
    CHECK(::connect(c1.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  });
  co::run();
  Fd c2(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  std::thread connector([&] {
    std::this_thread::sleep_for(100ms);
    (void)::connect(c2.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  });
  errno = EDOM;
  const co::Deadline start = co::now_ns();
  Fd accepted(::accept(listener.get(), nullptr, nullptr));
  const int err = errno;
  const double seconds = seconds_since(start);
  connector.join();
  CHECK(accepted);
  CHECK(err == EDOM);  // a successful call leaves errno alone
  CHECK(seconds >= 0.09);
  CHECK((::fcntl(accepted.get(), F_GETFL) & O_NONBLOCK) == 0);
}

TEST_CASE("semantics: recv with MSG_WAITALL in a coroutine collects every piece") {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  ssize_t r = 0;
  char buf[6] = {};
  co::go([&] { r = ::recv(pair.a.get(), buf, sizeof buf, MSG_WAITALL); });
  co::go([&] {
    for (const char* piece : {"ab", "cd", "ef"}) {
      ::usleep(30'000);
      (void)!::write(pair.b.get(), piece, 2);
    }
  });
  co::run();
  CHECK(r == 6);
  CHECK(std::memcmp(buf, "abcdef", 6) == 0);
}

TEST_CASE(
    "semantics: shutdown() of a listener ends accepts parked on it, as the kernel's blocking "
    "accept") {
  cofcgi_test::LeakCheck leaks;
  // What the kernel does to a thread blocked in accept (no scheduler on that thread):
  hooks_test::UnixPath kernel_path("shutdown-kernel");
  Fd kernel_listener = hooks_test::unix_listener(kernel_path);
  CallResult kernel;
  std::thread blocked(
      [&] { kernel = timed([&] { return ::accept(kernel_listener.get(), nullptr, nullptr); }); });
  std::this_thread::sleep_for(100ms);
  ::shutdown(kernel_listener.get(), SHUT_RDWR);
  blocked.join();
  REQUIRE(kernel.r == -1);
  // The hooks, for a unix and a TCP listener:
  hooks_test::UnixPath path("shutdown-hooked");
  Fd unix_listener = hooks_test::unix_listener(path);
  std::uint16_t port = 0;
  Fd tcp_listener = hooks_test::tcp_listener(&port);
  CallResult on_unix, on_tcp;
  co::go([&] { on_unix = timed([&] { return ::accept(unix_listener.get(), nullptr, nullptr); }); });
  co::go([&] { on_tcp = timed([&] { return ::accept(tcp_listener.get(), nullptr, nullptr); }); });
  co::go([&] {
    ::usleep(100'000);
    ::shutdown(unix_listener.get(), SHUT_RDWR);
    ::shutdown(tcp_listener.get(), SHUT_RDWR);
  });
  co::run();
  CHECK(on_unix.r == -1);
  CHECK(on_unix.err == kernel.err);
  CHECK(on_unix.seconds < 0.5);
  CHECK(on_tcp.r == -1);
  CHECK(on_tcp.err == EINVAL);
  CHECK(on_tcp.seconds < 0.5);
  // And on the thread's own stack, on the listener the hooks made non-blocking: no busy loop,
  // no hang, the same error.
  const CallResult later = timed([&] { return ::accept(unix_listener.get(), nullptr, nullptr); });
  CHECK(later.r == -1);
  CHECK(later.err == kernel.err);
}
