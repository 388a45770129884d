// Every blocking I/O entry point parks only its coroutine: 50 coroutines each block in the
// call under test on an fd of their own, and one releasing coroutine (in the same thread)
// makes them all ready 200 ms later. If the call blocked the thread, the releaser could not
// run; the whole round takes about 200 ms instead.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cofcgi/hooks/hooks.h"
#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"
#include "parking_harness.h"

using hooks_test::Fd;
using hooks_test::seconds_since;
using namespace std::chrono_literals;

namespace {

using hooks_test::check;
using hooks_test::kN;
using hooks_test::Report;
using hooks_test::run_variant;

std::vector<hooks_test::Pair> socket_pairs(int type = SOCK_STREAM) {
  std::vector<hooks_test::Pair> v;
  for (int i = 0; i < kN; ++i) v.push_back(hooks_test::socket_pair(type));
  return v;
}

std::vector<hooks_test::Pair> pipes() {
  std::vector<hooks_test::Pair> v;
  for (int i = 0; i < kN; ++i) v.push_back(hooks_test::pipe_pair());
  return v;
}

// fill makes fd's send buffer full (MSG_DONTWAIT: never parks); returns the bytes queued.
size_t fill(int fd) {
  const int small = 4096;
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  static const char chunk[1024] = {};
  size_t total = 0;
  for (;;) {
    const ssize_t n = ::send(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
  return total;
}

// drain reads everything queued on fd without waiting.
void drain(int fd) {
  char buf[4096];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

void write_byte(int fd, char c) { (void)!::write(fd, &c, 1); }

}  // namespace

TEST_CASE("io variants: the harness notices a call that blocks the thread") {
  // The same read with hooks off blocks the thread: the releaser cannot run, the watchdog
  // has to step in, and the report says so. Proof that the checks below can fail.
  cofcgi_test::LeakCheck leaks;
  auto pairs = socket_pairs();
  const Report r = run_variant(
      [&](int i) {
        co::hooks::ScopedDisable off;
        char c = 0;
        return ::read(pairs[i].a.get(), &c, 1) == 1 && c == 'x';
      },
      [&](int i) { write_byte(pairs[i].b.get(), 'x'); }, 500ms);
  CHECK(r.rescued);
  CHECK(r.ok == kN);
  CHECK(r.elapsed >= 0.5);
}

TEST_CASE("io variants: readv on a socket parks") {
  cofcgi_test::LeakCheck leaks;
  auto pairs = socket_pairs();
  const Report r = run_variant(
      [&](int i) {
        char a[3], b[4];
        iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
        const ssize_t n = ::readv(pairs[i].a.get(), iov, 2);
        return n == 7 && std::memcmp(a, "abc", 3) == 0 && std::memcmp(b, "defg", 4) == 0;
      },
      [&](int i) { (void)!::write(pairs[i].b.get(), "abcdefg", 7); });
  check(r, "readv (socket)");
}

TEST_CASE("io variants: readv on a pipe parks") {
  cofcgi_test::LeakCheck leaks;
  auto ps = pipes();
  const Report r = run_variant(
      [&](int i) {
        char a[2], b[2];
        iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
        const ssize_t n = ::readv(ps[i].a.get(), iov, 2);
        return n == 4 && std::memcmp(a, "wx", 2) == 0 && std::memcmp(b, "yz", 2) == 0;
      },
      [&](int i) { (void)!::write(ps[i].b.get(), "wxyz", 4); });
  check(r, "readv (pipe)");
}

TEST_CASE("io variants: writev on a full socket parks until the peer drains it") {
  cofcgi_test::LeakCheck leaks;
  auto pairs = socket_pairs();
  for (auto& p : pairs) REQUIRE(fill(p.a.get()) > 0);
  const Report r = run_variant(
      [&](int i) {
        char head[100], tail[100];
        std::memset(head, 'h', sizeof head);
        std::memset(tail, 't', sizeof tail);
        iovec iov[2] = {{head, sizeof head}, {tail, sizeof tail}};
        if (::writev(pairs[i].a.get(), iov, 2) != 200) return false;
        char got[200];
        return hooks_test::read_exact(pairs[i].b.get(), got, sizeof got) && got[0] == 'h' &&
               got[99] == 'h' && got[100] == 't' && got[199] == 't';
      },
      [&](int i) { drain(pairs[i].b.get()); });
  check(r, "writev (full socket)");
}

TEST_CASE("io variants: recvmsg parks") {
  cofcgi_test::LeakCheck leaks;
  auto pairs = socket_pairs(SOCK_SEQPACKET);
  const Report r = run_variant(
      [&](int i) {
        char buf[32] = {};
        iovec iov{buf, sizeof buf};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        const ssize_t n = ::recvmsg(pairs[i].a.get(), &m, 0);
        return n == 5 && std::memcmp(buf, "hello", 5) == 0 && (m.msg_flags & MSG_TRUNC) == 0;
      },
      [&](int i) {
        char data[] = "hello";
        iovec iov{data, 5};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        (void)!::sendmsg(pairs[i].b.get(), &m, 0);
      });
  check(r, "recvmsg");
}

TEST_CASE("io variants: sendmsg on a full socket parks until the peer drains it") {
  cofcgi_test::LeakCheck leaks;
  auto pairs = socket_pairs();
  for (auto& p : pairs) REQUIRE(fill(p.a.get()) > 0);
  const Report r = run_variant(
      [&](int i) {
        char data[64];
        std::memset(data, 'm', sizeof data);
        iovec iov{data, sizeof data};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        if (::sendmsg(pairs[i].a.get(), &m, 0) != 64) return false;
        char got[64];
        return hooks_test::read_exact(pairs[i].b.get(), got, sizeof got) &&
               std::memcmp(got, data, 64) == 0;
      },
      [&](int i) { drain(pairs[i].b.get()); });
  check(r, "sendmsg (full socket)");
}

TEST_CASE("io variants: recvfrom on UDP loopback parks, sendto releases it") {
  cofcgi_test::LeakCheck leaks;
  std::vector<Fd> socks;
  std::vector<sockaddr_in> addrs;
  for (int i = 0; i < kN; ++i) {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(s);
    sockaddr_in a = hooks_test::loopback(0);
    REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    socks.push_back(std::move(s));
    addrs.push_back(a);
  }
  Fd sender(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in from_addr = hooks_test::loopback(0);
  REQUIRE(::bind(sender.get(), reinterpret_cast<sockaddr*>(&from_addr), sizeof from_addr) == 0);
  socklen_t flen = sizeof from_addr;
  REQUIRE(::getsockname(sender.get(), reinterpret_cast<sockaddr*>(&from_addr), &flen) == 0);
  const Report r = run_variant(
      [&](int i) {
        char buf[64] = {};
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const ssize_t n = ::recvfrom(socks[i].get(), buf, sizeof buf, 0,
                                     reinterpret_cast<sockaddr*>(&from), &len);
        const std::string expected = "datagram " + std::to_string(i);
        return n == static_cast<ssize_t>(expected.size()) &&
               expected == std::string(buf, static_cast<size_t>(n)) &&
               from.sin_port == from_addr.sin_port;
      },
      [&](int i) {
        const std::string msg = "datagram " + std::to_string(i);
        (void)!::sendto(sender.get(), msg.data(), msg.size(), 0,
                        reinterpret_cast<const sockaddr*>(&addrs[i]), sizeof addrs[i]);
      });
  check(r, "recvfrom (UDP)");
}

TEST_CASE("io variants: recvmmsg on UDP loopback parks") {
  cofcgi_test::LeakCheck leaks;
  std::vector<Fd> socks;
  std::vector<sockaddr_in> addrs;
  for (int i = 0; i < kN; ++i) {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = hooks_test::loopback(0);
    REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    socks.push_back(std::move(s));
    addrs.push_back(a);
  }
  Fd sender(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const Report r = run_variant(
      [&](int i) {
        char buf[2][16] = {};
        iovec iov[2] = {{buf[0], sizeof buf[0]}, {buf[1], sizeof buf[1]}};
        mmsghdr mm[2] = {};
        for (int k = 0; k < 2; ++k) {
          mm[k].msg_hdr.msg_iov = &iov[k];
          mm[k].msg_hdr.msg_iovlen = 1;
        }
        // MSG_WAITFORONE: return once one datagram is in, whatever vlen (man recvmmsg).
        const int n = ::recvmmsg(socks[i].get(), mm, 2, MSG_WAITFORONE, nullptr);
        return n >= 1 && mm[0].msg_len == 3 && std::memcmp(buf[0], "one", 3) == 0;
      },
      [&](int i) {
        (void)!::sendto(sender.get(), "one", 3, 0, reinterpret_cast<const sockaddr*>(&addrs[i]),
                        sizeof addrs[i]);
      });
  check(r, "recvmmsg (UDP)");
}

TEST_CASE("io variants: sendto on a full stream socket parks until the peer drains it") {
  cofcgi_test::LeakCheck leaks;
  auto pairs = socket_pairs();
  for (auto& p : pairs) REQUIRE(fill(p.a.get()) > 0);
  const Report r = run_variant(
      [&](int i) {
        if (::sendto(pairs[i].a.get(), "0123456789", 10, 0, nullptr, 0) != 10) return false;
        char got[10];
        return hooks_test::read_exact(pairs[i].b.get(), got, sizeof got) &&
               std::memcmp(got, "0123456789", 10) == 0;
      },
      [&](int i) { drain(pairs[i].b.get()); });
  check(r, "sendto (full socket)");
}

TEST_CASE("io variants: accept4 on a blocking listener parks; its flags reach the new fd") {
  cofcgi_test::LeakCheck leaks;
  std::vector<Fd> listeners;
  std::vector<Fd> clients;
  std::vector<sockaddr_in> addrs;
  for (int i = 0; i < kN; ++i) {
    std::uint16_t port = 0;
    listeners.push_back(hooks_test::tcp_listener(&port, 4));
    addrs.push_back(hooks_test::loopback(port));
    clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(clients.back());
  }
  const Report r = run_variant(
      [&](int i) {
        const int flags = (i % 2 == 0) ? SOCK_CLOEXEC : (SOCK_CLOEXEC | SOCK_NONBLOCK);
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        Fd c(::accept4(listeners[i].get(), reinterpret_cast<sockaddr*>(&peer), &len, flags));
        if (!c || len != sizeof peer || peer.sin_family != AF_INET) return false;
        const int fl = ::fcntl(c.get(), F_GETFL);
        const int fd_flags = ::fcntl(c.get(), F_GETFD);
        const bool want_nonblock = (flags & SOCK_NONBLOCK) != 0;
        return fl >= 0 && ((fl & O_NONBLOCK) != 0) == want_nonblock && (fd_flags & FD_CLOEXEC) != 0;
      },
      [&](int i) {
        // Loopback connects complete at once (the listener's backlog holds them).
        (void)::connect(clients[i].get(), reinterpret_cast<const sockaddr*>(&addrs[i]),
                        sizeof addrs[i]);
      });
  check(r, "accept4");
  // The listeners were left blocking by the user: that is what they still report.
  for (auto& l : listeners) CHECK((::fcntl(l.get(), F_GETFL) & O_NONBLOCK) == 0);
}

TEST_CASE("io variants: select parks") {
  cofcgi_test::LeakCheck leaks;
  auto ps = pipes();
  const Report r = run_variant(
      [&](int i) {
        const int fd = ps[i].a.get();
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        if (::select(fd + 1, &rd, nullptr, nullptr, nullptr) != 1 || !FD_ISSET(fd, &rd))
          return false;
        char c = 0;
        return ::read(fd, &c, 1) == 1 && c == 's';
      },
      [&](int i) { write_byte(ps[i].b.get(), 's'); });
  check(r, "select");
}

TEST_CASE("io variants: pselect parks") {
  cofcgi_test::LeakCheck leaks;
  auto pairs = socket_pairs();
  const Report r = run_variant(
      [&](int i) {
        const int fd = pairs[i].a.get();
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        const timespec ts{10, 0};
        sigset_t mask;
        sigemptyset(&mask);
        if (::pselect(fd + 1, &rd, nullptr, nullptr, &ts, &mask) != 1 || !FD_ISSET(fd, &rd))
          return false;
        char c = 0;
        return ::read(fd, &c, 1) == 1 && c == 'p';
      },
      [&](int i) { write_byte(pairs[i].b.get(), 'p'); });
  check(r, "pselect");
}

TEST_CASE("io variants: poll and ppoll park") {
  cofcgi_test::LeakCheck leaks;
  auto ps = pipes();
  const Report r = run_variant(
      [&](int i) {
        pollfd p{ps[i].a.get(), POLLIN, 0};
        int n;
        if (i % 2 == 0) {
          n = ::poll(&p, 1, -1);
        } else {
          const timespec ts{10, 0};
          n = ::ppoll(&p, 1, &ts, nullptr);
        }
        if (n != 1 || !(p.revents & POLLIN)) return false;
        char c = 0;
        return ::read(p.fd, &c, 1) == 1 && c == 'q';
      },
      [&](int i) { write_byte(ps[i].b.get(), 'q'); });
  check(r, "poll/ppoll");
}

TEST_CASE("io variants: epoll_wait and epoll_pwait on a user epoll fd park") {
  cofcgi_test::LeakCheck leaks;
  auto ps = pipes();
  std::vector<Fd> eps;
  for (int i = 0; i < kN; ++i) {
    eps.emplace_back(::epoll_create1(EPOLL_CLOEXEC));
    REQUIRE(eps.back());
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 1000 + static_cast<std::uint64_t>(i);
    REQUIRE(::epoll_ctl(eps.back().get(), EPOLL_CTL_ADD, ps[i].a.get(), &ev) == 0);
  }
  const Report r = run_variant(
      [&](int i) {
        epoll_event out[4] = {};
        const int n = (i % 2 == 0) ? ::epoll_wait(eps[i].get(), out, 4, -1)
                                   : ::epoll_pwait(eps[i].get(), out, 4, 10000, nullptr);
        if (n != 1 || out[0].data.u64 != 1000 + static_cast<std::uint64_t>(i) ||
            !(out[0].events & EPOLLIN)) {
          return false;
        }
        char c = 0;
        return ::read(ps[i].a.get(), &c, 1) == 1 && c == 'e';
      },
      [&](int i) { write_byte(ps[i].b.get(), 'e'); });
  check(r, "epoll_wait/epoll_pwait");
}

TEST_CASE("io variants: timeouts of select, pselect, ppoll, poll and epoll_wait run concurrently") {
  cofcgi_test::LeakCheck leaks;
  auto ps = pipes();
  Fd ep(::epoll_create1(EPOLL_CLOEXEC));
  REQUIRE(ep);
  int zeros = 0;
  int early = 0;
  int bad_timeval = 0;
  const co::Deadline start = co::now_ns();
  for (int i = 0; i < kN; ++i) {
    co::go([&, i] {
      const int fd = ps[i].a.get();
      const co::Deadline begin = co::now_ns();
      int n = -1;
      switch (i % 5) {
        case 0: {
          fd_set rd;
          FD_ZERO(&rd);
          FD_SET(fd, &rd);
          timeval tv{0, 200'000};
          n = ::select(fd + 1, &rd, nullptr, nullptr, &tv);
          if (tv.tv_sec != 0 || tv.tv_usec != 0) ++bad_timeval;  // Linux: the time left, 0
          if (FD_ISSET(fd, &rd)) n = -2;
          break;
        }
        case 1: {
          fd_set rd;
          FD_ZERO(&rd);
          FD_SET(fd, &rd);
          const timespec ts{0, 200'000'000};
          n = ::pselect(fd + 1, &rd, nullptr, nullptr, &ts, nullptr);
          break;
        }
        case 2: {
          pollfd p{fd, POLLIN, 0};
          const timespec ts{0, 200'000'000};
          n = ::ppoll(&p, 1, &ts, nullptr);
          break;
        }
        case 3: {
          pollfd p{fd, POLLIN, 0};
          n = ::poll(&p, 1, 200);
          break;
        }
        case 4: {
          epoll_event out[1];
          n = ::epoll_wait(ep.get(), out, 1, 200);
          break;
        }
      }
      if (co::now_ns() - begin < 195'000'000) ++early;
      if (n == 0) ++zeros;
    });
  }
  co::run();
  const double elapsed = seconds_since(start);
  CHECK(zeros == kN);
  CHECK(early == 0);
  CHECK(bad_timeval == 0);
  CHECK(elapsed < 0.8 * hooks_test::kSlack);  // 50 x 200 ms in a row would be 10 s
}

TEST_CASE(
    "io variants: recvmmsg without MSG_WAITFORONE waits for vlen datagrams, like the kernel") {
  cofcgi_test::LeakCheck leaks;
  Fd rx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  Fd tx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = hooks_test::loopback(0);
  REQUIRE(::bind(rx.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t alen = sizeof a;
  REQUIRE(::getsockname(rx.get(), reinterpret_cast<sockaddr*>(&a), &alen) == 0);
  const timeval tv{0, 200'000};
  REQUIRE(::setsockopt(rx.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  auto send_one = [&](const char* what) {
    (void)!::sendto(tx.get(), what, std::strlen(what), 0, reinterpret_cast<const sockaddr*>(&a),
                    sizeof a);
  };
  struct Batch {
    char buf[2][16] = {};
    iovec iov[2];
    mmsghdr mm[2] = {};
    Batch() {
      for (int k = 0; k < 2; ++k) {
        iov[k] = iovec{buf[k], sizeof buf[k]};
        mm[k].msg_hdr.msg_iov = &iov[k];
        mm[k].msg_hdr.msg_iovlen = 1;
      }
    }
  };
  // The kernel, on the thread's own stack: one datagram queued, vlen 2 -> it waits for a
  // second one until SO_RCVTIMEO, then returns the one it has.
  send_one("k1");
  Batch kb;
  const co::Deadline k0 = co::now_ns();
  const int kn = ::recvmmsg(rx.get(), kb.mm, 2, 0, nullptr);
  const double kseconds = seconds_since(k0);
  REQUIRE(kn == 1);
  REQUIRE(kseconds >= 0.19);
  // The hook does the same...
  send_one("h1");
  Batch hb;
  int hn = 0;
  double hseconds = 0;
  co::go([&] {
    const co::Deadline start = co::now_ns();
    hn = ::recvmmsg(rx.get(), hb.mm, 2, 0, nullptr);
    hseconds = seconds_since(start);
  });
  co::run();
  CHECK(hn == kn);
  CHECK(hseconds >= 0.19);
  CHECK(hseconds < 0.6);
  CHECK(std::memcmp(hb.buf[0], "h1", 2) == 0);
  // ...and returns both once a second datagram arrives (sent by another coroutine).
  Batch both;
  int bn = 0;
  double bseconds = 0;
  timespec left{5, 0};
  co::go([&] {
    const co::Deadline start = co::now_ns();
    bn = ::recvmmsg(rx.get(), both.mm, 2, 0, &left);
    bseconds = seconds_since(start);
  });
  co::go([&] {
    ::usleep(50'000);
    send_one("b1");
    ::usleep(50'000);
    send_one("b2");
  });
  co::run();
  CHECK(bn == 2);
  CHECK(std::memcmp(both.buf[0], "b1", 2) == 0);
  CHECK(std::memcmp(both.buf[1], "b2", 2) == 0);
  CHECK(bseconds >= 0.09);
  CHECK(bseconds < 0.19);   // not cut short by SO_RCVTIMEO: the second came in time
  CHECK(left.tv_sec == 4);  // the time left, as Linux reports it
}
