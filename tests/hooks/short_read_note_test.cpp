// The not-ready note after a short read (issue 15, hooks/src/read_note.h): a read of a
// stream socket that returns less than asked left it empty, so the hooks note it not ready
// and the next read parks (blocking) or says EAGAIN without a syscall (non-blocking, for a
// caller that then polls that one fd). syscall_count_test.sh counts what this saves; these
// check what it must not lose: data that comes after, the peer's end, other kinds of sockets
// and reads, other ways of waiting.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "hooks_test_util.h"

using namespace std::chrono_literals;
using hooks_test::Fd;
using hooks_test::kSlack;
using hooks_test::Pair;
using hooks_test::seconds_since;

namespace {

enum class Transport { unix_stream, tcp };

// stream_pair: a connected pair of stream sockets; `nonblocking` as libmariadb holds its own.
Pair stream_pair(Transport transport, bool nonblocking) {
  const int flags = SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  if (transport == Transport::unix_stream) {
    int sv[2] = {-1, -1};
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | flags, 0, sv) == 0);
    return Pair{Fd(sv[0]), Fd(sv[1])};
  }
  std::uint16_t port = 0;
  const Fd listener = hooks_test::tcp_listener(&port);
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(client);
  sockaddr_in a = hooks_test::loopback(port);
  REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  Fd server(::accept4(listener.get(), nullptr, nullptr, flags));
  REQUIRE(server);
  return Pair{std::move(server), std::move(client)};
}

// noted: the read direction of fd is noted not ready in this thread's netpoller.
bool noted(int fd) { return co::fd_known_not_ready(fd, POLLIN); }

// register_reader: one parked read of a byte, the way libmariadb reads (recv with
// MSG_DONTWAIT, EAGAIN, poll, recv), so fd is registered with this thread's netpoller (notes
// are kept only then). Ends with a full read: nothing noted. Runs in a coroutine.
void register_reader(const Pair& p) {
  co::go([&] {
    co::sleep_for(10ms);
    REQUIRE(::write(p.b.get(), "r", 1) == 1);
  });
  char c;
  REQUIRE(::recv(p.a.get(), &c, 1, MSG_DONTWAIT) == -1);
  REQUIRE(errno == EAGAIN);
  pollfd q{p.a.get(), POLLIN, 0};
  REQUIRE(::poll(&q, 1, 5000) == 1);
  REQUIRE(::recv(p.a.get(), &c, 1, MSG_DONTWAIT) == 1);
  REQUIRE_FALSE(noted(p.a.get()));
}

// MariaRead is libmariadb's read loop: recv with MSG_DONTWAIT; on EAGAIN poll that one fd.
struct MariaRead {
  ssize_t result = -2;  // bytes, 0 at EOF, -1 on timeout or error
  char first = 0;
  int polls = 0;
  double seconds = 0;
};
MariaRead maria_read(int fd, int timeout_ms) {
  MariaRead r;
  const co::Deadline start = co::now_ns();
  char buf[64];
  for (;;) {
    r.result = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r.result >= 0 || errno != EAGAIN || r.polls > 10) break;
    ++r.polls;
    pollfd q{fd, POLLIN, 0};
    if (::poll(&q, 1, timeout_ms) != 1) {
      r.result = -1;
      break;
    }
  }
  if (r.result > 0) r.first = buf[0];
  r.seconds = seconds_since(start);
  return r;
}

// short_read: writes `data` to the peer and reads it back, the way libmariadb does, into a
// larger buffer (a short read). The first recv may say EAGAIN without a syscall: the data's
// edge is queued, and the poll takes it.
void short_read(const Pair& p, const char* data) {
  const auto n = static_cast<ssize_t>(std::strlen(data));
  REQUIRE(::write(p.b.get(), data, static_cast<size_t>(n)) == n);
  REQUIRE(maria_read(p.a.get(), 3000).result == n);
}

void check_prompt(const MariaRead& r, ssize_t result, char first = 0) {
  CHECK(r.result == result);
  if (result > 0) CHECK(r.first == first);
  CHECK(r.polls <= 2);
  CHECK(r.seconds < 1.0 * kSlack);  // not the poll's 3 s timeout
}

}  // namespace

TEST_CASE("short-read note: a short read of a stream socket notes it; later data still read") {
  for (const Transport t : {Transport::unix_stream, Transport::tcp}) {
    CAPTURE(static_cast<int>(t));
    const Pair p = stream_pair(t, true);
    MariaRead same_thread, other_thread;
    bool noted_after_short_read = false;
    co::go([&] {
      register_reader(p);
      short_read(p, "ab");
      noted_after_short_read = noted(p.a.get());
      REQUIRE(::write(p.b.get(), "c", 1) == 1);  // before the next read: an edge is queued
      same_thread = maria_read(p.a.get(), 3000);
      short_read(p, "de");
      std::thread writer([&] { REQUIRE(::write(p.b.get(), "f", 1) == 1); });
      writer.join();
      other_thread = maria_read(p.a.get(), 3000);
    });
    co::run();
    CHECK(noted_after_short_read);
    check_prompt(same_thread, 1, 'c');
    check_prompt(other_thread, 1, 'f');
  }
}

TEST_CASE("short-read note: a blocking read after a short read parks, then reads") {
  for (const Transport t : {Transport::unix_stream, Transport::tcp}) {
    CAPTURE(static_cast<int>(t));
    const Pair p = stream_pair(t, false);
    ssize_t queued = -2, later = -2;
    double waited = 0;
    co::go([&] {
      register_reader(p);
      char buf[64];
      short_read(p, "ab");
      REQUIRE(noted(p.a.get()));
      REQUIRE(::write(p.b.get(), "c", 1) == 1);  // written before the read: read at once
      queued = ::read(p.a.get(), buf, sizeof buf);
      REQUIRE(noted(p.a.get()));
      co::go([&] {
        co::sleep_for(20ms);
        REQUIRE(::write(p.b.get(), "d", 1) == 1);
      });
      const co::Deadline start = co::now_ns();
      later = ::recv(p.a.get(), buf, sizeof buf, 0);  // parks: no data yet
      waited = seconds_since(start);
    });
    co::run();
    CHECK(queued == 1);
    CHECK(later == 1);
    CHECK(waited >= 0.015);
    CHECK(waited < 1.0 * kSlack);
  }
}

TEST_CASE("short-read note: the peer's end after a short read is read as EOF, never a hang") {
  for (const Transport t : {Transport::unix_stream, Transport::tcp}) {
    CAPTURE(static_cast<int>(t));
    // The FIN came with the data and the loop took its edge while the coroutine slept.
    {
      const Pair p = stream_pair(t, true);
      MariaRead r;
      co::go([&] {
        register_reader(p);
        REQUIRE(::write(p.b.get(), "ab", 2) == 2);
        REQUIRE(::shutdown(p.b.get(), SHUT_WR) == 0);
        co::sleep_for(20ms);
        char buf[64];
        REQUIRE(::recv(p.a.get(), buf, sizeof buf, MSG_DONTWAIT) == 2);
        r = maria_read(p.a.get(), 3000);
      });
      co::run();
      check_prompt(r, 0);
    }
    // The FIN came just before the short read; its edge is still queued.
    {
      const Pair p = stream_pair(t, false);
      ssize_t eof = -2;
      double waited = 0;
      co::go([&] {
        register_reader(p);
        REQUIRE(::write(p.b.get(), "ab", 2) == 2);
        REQUIRE(::shutdown(p.b.get(), SHUT_WR) == 0);
        char buf[64];
        REQUIRE(::read(p.a.get(), buf, sizeof buf) == 2);
        const co::Deadline start = co::now_ns();
        eof = ::read(p.a.get(), buf, sizeof buf);  // blocking: parks at most until that edge
        waited = seconds_since(start);
      });
      co::run();
      CHECK(eof == 0);
      CHECK(waited < 1.0 * kSlack);
    }
    // The FIN comes after the short read.
    {
      const Pair p = stream_pair(t, true);
      MariaRead r;
      co::go([&] {
        register_reader(p);
        short_read(p, "ab");
        co::go([&] {
          co::sleep_for(20ms);
          REQUIRE(::shutdown(p.b.get(), SHUT_WR) == 0);
        });
        r = maria_read(p.a.get(), 3000);
      });
      co::run();
      check_prompt(r, 0);
    }
  }
}

TEST_CASE("short-read note: a short MSG_PEEK read notes nothing") {
  const Pair p = stream_pair(Transport::unix_stream, true);
  bool noted_after_peek = true;
  ssize_t n = -2;
  co::go([&] {
    register_reader(p);
    REQUIRE(::write(p.b.get(), "ab", 2) == 2);
    char buf[64];
    REQUIRE(::recv(p.a.get(), buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) == 2);
    noted_after_peek = noted(p.a.get());
    n = ::recv(p.a.get(), buf, sizeof buf, MSG_DONTWAIT);
  });
  co::run();
  CHECK_FALSE(noted_after_peek);
  CHECK(n == 2);
}

TEST_CASE("short-read note: datagram and seqpacket sockets read one message at a time") {
  for (const int type : {SOCK_DGRAM, SOCK_SEQPACKET}) {
    CAPTURE(type);
    const Pair p = hooks_test::socket_pair(type | SOCK_NONBLOCK);
    bool noted_after_short = true;
    MariaRead second;
    co::go([&] {
      register_reader(p);
      REQUIRE(::send(p.b.get(), "a", 1, 0) == 1);
      REQUIRE(::send(p.b.get(), "b", 1, 0) == 1);
      char buf[64];
      REQUIRE(::recv(p.a.get(), buf, sizeof buf, MSG_DONTWAIT) == 1);  // less than asked
      noted_after_short = noted(p.a.get());
      second = maria_read(p.a.get(), 3000);  // the second message is there
    });
    co::run();
    CHECK_FALSE(noted_after_short);
    check_prompt(second, 1, 'b');
    CHECK(second.polls == 0);
  }
}

TEST_CASE("short-read note: closing the fd and reusing its number drops it") {
  Pair p = stream_pair(Transport::unix_stream, true);
  ssize_t n = -2;
  bool noted_after_reuse = true;
  co::go([&] {
    register_reader(p);
    short_read(p, "ab");
    REQUIRE(noted(p.a.get()));
    const int number = p.a.get();
    p.a.reset();
    p.b.reset();
    const Pair q = stream_pair(Transport::unix_stream, true);  // the lowest free numbers again
    REQUIRE(q.a.get() == number);
    noted_after_reuse = noted(q.a.get());
    REQUIRE(::write(q.b.get(), "n", 1) == 1);
    char buf[64];
    n = ::recv(q.a.get(), buf, sizeof buf, MSG_DONTWAIT);
  });
  co::run();
  CHECK_FALSE(noted_after_reuse);
  CHECK(n == 1);
}

TEST_CASE("short-read note: a dup of a noted socket reads what arrives") {
  const Pair p = stream_pair(Transport::unix_stream, true);
  MariaRead through_copy;
  co::go([&] {
    register_reader(p);
    short_read(p, "ab");
    REQUIRE(noted(p.a.get()));
    const Fd copy(::dup(p.a.get()));
    REQUIRE(copy);
    REQUIRE(::write(p.b.get(), "c", 1) == 1);
    through_copy = maria_read(copy.get(), 3000);
  });
  co::run();
  check_prompt(through_copy, 1, 'c');
}

TEST_CASE("short-read note: a caller that waits another way than a one-fd poll is not fooled") {
  // The note may say "not ready" while data is there (its edge not taken yet): only a poll
  // of that one fd parks on it. Any other wait would report the fd ready at once, and an
  // EAGAIN answered from the note would make the caller spin or, edge-triggered, wait for good.
  const Pair p = stream_pair(Transport::unix_stream, true);
  const Pair other = hooks_test::socket_pair();
  ssize_t after_poll_many = -2, after_poll_zero = -2, after_epoll = -2;
  int rounds_many = 0, rounds_zero = 0;
  co::go([&] {
    register_reader(p);
    char buf[64];
    // recv_waiting: MSG_DONTWAIT recvs until one gets something or fails otherwise, calling
    // wait() after each EAGAIN; at most 100, counted in *rounds.
    const auto recv_waiting = [&](int* rounds, const auto& wait) {
      ssize_t got = -2;
      while (*rounds < 100) {
        ++*rounds;
        got = ::recv(p.a.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (got >= 0 || errno != EAGAIN) break;
        wait();
      }
      return got;
    };
    // Several fds in one poll.
    short_read(p, "ab");
    REQUIRE(::write(p.b.get(), "c", 1) == 1);
    after_poll_many = recv_waiting(&rounds_many, [&] {
      pollfd q[2] = {{p.a.get(), POLLIN, 0}, {other.a.get(), POLLIN, 0}};
      REQUIRE(::poll(q, 2, 1000) == 1);
    });
    // A poll of that fd with no timeout, after a one-fd poll that parked.
    register_reader(p);
    short_read(p, "ab");
    REQUIRE(::write(p.b.get(), "d", 1) == 1);
    after_poll_zero = recv_waiting(&rounds_zero, [&] {
      pollfd q{p.a.get(), POLLIN, 0};
      REQUIRE(::poll(&q, 1, 0) == 1);
    });
    // The caller's own edge-triggered epoll, after a one-fd poll that parked.
    register_reader(p);
    short_read(p, "ab");
    REQUIRE(::write(p.b.get(), "e", 1) == 1);
    const Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    REQUIRE(ep);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    REQUIRE(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, p.a.get(), &ev) == 0);
    epoll_event got{};
    REQUIRE(::epoll_wait(ep.get(), &got, 1, 1000) == 1);
    after_epoll = ::recv(p.a.get(), buf, sizeof buf, MSG_DONTWAIT);  // the edge was for this
  });
  co::run();
  CHECK(after_poll_many == 1);
  CHECK(rounds_many <= 2);
  CHECK(after_poll_zero == 1);
  CHECK(rounds_zero <= 2);
  CHECK(after_epoll == 1);
}

TEST_CASE("short-read note: the socket kind is learned for a socket the hooks did not make") {
  // Made by the raw system call in numbers the hooks' close renewed: kind unknown, learned
  // from the kernel at the first short read.
  for (const int type : {SOCK_STREAM, SOCK_SEQPACKET}) {
    CAPTURE(type);
    bool noted_after_short = false;
    co::go([&] {
      int numbers[2];
      REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, numbers) == 0);
      REQUIRE(::close(numbers[0]) == 0);
      REQUIRE(::close(numbers[1]) == 0);
      int sv[2] = {-1, -1};
      REQUIRE(::syscall(SYS_socketpair, AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
      const Pair p{Fd(sv[0]), Fd(sv[1])};
      register_reader(p);
      short_read(p, "ab");
      noted_after_short = noted(p.a.get());
    });
    co::run();
    CHECK(noted_after_short == (type == SOCK_STREAM));
  }
}

TEST_CASE("short-read note: a unix socket that takes credentials or fds notes nothing") {
  // With SO_PASSCRED a read stops where the writer changes; a message with fds ends a read.
  bool noted_with_passcred = true, noted_with_fds = true;
  ssize_t after_fds = -2;
  co::go([&] {
    const Pair p = stream_pair(Transport::unix_stream, true);
    const int one = 1;
    REQUIRE(::setsockopt(p.a.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0);
    register_reader(p);
    short_read(p, "ab");
    noted_with_passcred = noted(p.a.get());

    const Pair q = stream_pair(Transport::unix_stream, true);
    register_reader(q);
    char data = 'a';
    iovec iov{&data, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr out{};
    out.msg_iov = &iov;
    out.msg_iovlen = 1;
    out.msg_control = control;
    out.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&out);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    const int passed = q.b.get();
    std::memcpy(CMSG_DATA(c), &passed, sizeof passed);
    REQUIRE(::sendmsg(q.b.get(), &out, 0) == 1);
    REQUIRE(::write(q.b.get(), "b", 1) == 1);
    char buf[64];
    iovec in_iov{buf, sizeof buf};
    alignas(cmsghdr) char in_control[CMSG_SPACE(sizeof(int))] = {};
    msghdr in{};
    in.msg_iov = &in_iov;
    in.msg_iovlen = 1;
    in.msg_control = in_control;
    in.msg_controllen = sizeof in_control;
    REQUIRE(::recvmsg(q.a.get(), &in, MSG_DONTWAIT) == 1);  // stops after the fd's message
    const cmsghdr* got = CMSG_FIRSTHDR(&in);
    REQUIRE(got != nullptr);
    int received_fd = -1;
    std::memcpy(&received_fd, CMSG_DATA(got), sizeof received_fd);
    ::close(received_fd);
    noted_with_fds = noted(q.a.get());
    after_fds = ::recv(q.a.get(), buf, sizeof buf, MSG_DONTWAIT);  // "b" is there
  });
  co::run();
  CHECK_FALSE(noted_with_passcred);
  CHECK_FALSE(noted_with_fds);
  CHECK(after_fds == 1);
}
