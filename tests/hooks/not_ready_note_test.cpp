// The "EAGAIN seen, no edge since" note (co::note_fd_not_ready) and the events handed over
// by the netpoller's wake-up (issue 15), seen through the hooked calls libmariadb makes: a
// non-blocking recv with MSG_DONTWAIT, then poll() on that one fd. What the note saves
// (the ppoll calls) is counted by syscall_count_test.sh; these check that it loses nothing.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "hooks_test_util.h"

using namespace std::chrono_literals;
using hooks_test::Fd;
using hooks_test::kSlack;
using hooks_test::seconds_since;

namespace {

// nonblocking_pair: the way libmariadb holds its socket (O_NONBLOCK set by the user).
hooks_test::Pair nonblocking_pair() {
  int sv[2] = {-1, -1};
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  return hooks_test::Pair{Fd(sv[0]), Fd(sv[1])};
}

// recv_eagain: one recv that finds nothing (and so notes the fd not ready).
void recv_eagain(int fd) {
  char c;
  REQUIRE(::recv(fd, &c, 1, MSG_DONTWAIT) == -1);
  REQUIRE(errno == EAGAIN);
}

// poll_in: poll(fd, POLLIN, timeout_ms); revents into *revents.
int poll_in(int fd, int timeout_ms, short* revents = nullptr) {
  pollfd p{fd, POLLIN, 0};
  const int n = ::poll(&p, 1, timeout_ms);
  if (revents != nullptr) *revents = p.revents;
  return n;
}

// one_parked_round: EAGAIN, poll parks, the peer writes, recv takes it. Leaves fd registered
// with this thread's netpoller, which is when the note is kept.
void one_parked_round(const hooks_test::Pair& p) {
  co::go([&] {
    co::sleep_for(10ms);
    REQUIRE(::write(p.b.get(), "r", 1) == 1);
  });
  recv_eagain(p.a.get());
  REQUIRE(poll_in(p.a.get(), 5000) == 1);
  char c;
  REQUIRE(::recv(p.a.get(), &c, 1, MSG_DONTWAIT) == 1);
}

}  // namespace

TEST_CASE("not-ready note: data that arrives between the EAGAIN and the poll is not lost") {
  const hooks_test::Pair p = nonblocking_pair();
  int polled = -1;
  short revents = 0;
  double waited = 0;
  co::go([&] {
    one_parked_round(p);
    recv_eagain(p.a.get());                    // noted: poll may skip its first ppoll
    REQUIRE(::write(p.b.get(), "d", 1) == 1);  // ... but the data is already there
    const co::Deadline start = co::now_ns();
    polled = poll_in(p.a.get(), 3000, &revents);
    waited = seconds_since(start);
  });
  co::run();
  CHECK(polled == 1);
  CHECK(revents == POLLIN);
  CHECK(waited < 1.0 * kSlack);  // the edge queued after the EAGAIN woke it, not the timeout
}

TEST_CASE("not-ready note: data written by another thread after the EAGAIN wakes the poll") {
  const hooks_test::Pair p = nonblocking_pair();
  int polled = -1;
  double waited = 0;
  co::go([&] {
    one_parked_round(p);
    recv_eagain(p.a.get());
    // Another thread writes while this coroutine still runs (before it parks).
    std::thread writer([&] { REQUIRE(::write(p.b.get(), "t", 1) == 1); });
    writer.join();
    const co::Deadline start = co::now_ns();
    polled = poll_in(p.a.get(), 3000);
    waited = seconds_since(start);
  });
  co::run();
  CHECK(polled == 1);
  CHECK(waited < 1.0 * kSlack);
}

TEST_CASE("not-ready note: the second reader after a consumed edge parks until its timeout") {
  const hooks_test::Pair p = nonblocking_pair();
  int got[2] = {0, 0};
  int polls[2] = {0, 0};
  bool timed_out[2] = {false, false};
  co::go([&] { one_parked_round(p); });
  co::run();
  for (int i = 0; i < 2; ++i) {
    co::go([&, i] {
      // libmariadb's loop: recv until it has a byte or poll times out.
      for (;;) {
        char c;
        if (::recv(p.a.get(), &c, 1, MSG_DONTWAIT) == 1) {
          ++got[i];
          return;
        }
        REQUIRE(errno == EAGAIN);
        ++polls[i];
        if (poll_in(p.a.get(), 300) == 0) {
          timed_out[i] = true;
          return;
        }
      }
    });
  }
  co::go([&] {
    co::sleep_for(20ms);
    REQUIRE(::write(p.b.get(), "1", 1) == 1);  // one byte: one reader gets it
  });
  const co::Deadline start = co::now_ns();
  co::run();
  CHECK(got[0] + got[1] == 1);
  CHECK(timed_out[0] != timed_out[1]);
  // Both were woken by the edge; the loser found EAGAIN and parked again (one more poll),
  // not spinning on a stale "ready".
  CHECK(polls[0] + polls[1] <= 3);
  CHECK(seconds_since(start) >= 0.25);
}

TEST_CASE("not-ready note: a wake-up that is no edge (wake_fd_readers) is answered by poll") {
  const hooks_test::Pair p = nonblocking_pair();
  int polled = -1;
  co::go([&] {
    one_parked_round(p);
    recv_eagain(p.a.get());
    co::go([&] {
      co::sleep_for(20ms);
      co::wake_fd_readers(p.a.get());  // not readable: the poll must go on waiting
    });
    polled = poll_in(p.a.get(), 200);
  });
  co::run();
  CHECK(polled == 0);
}

TEST_CASE("not-ready note: closing the fd and reusing its number drops it") {
  hooks_test::Pair p = nonblocking_pair();
  int polled = -1;
  co::go([&] {
    one_parked_round(p);
    recv_eagain(p.a.get());  // noted
    const int number = p.a.get();
    p.a.reset();
    p.b.reset();
    hooks_test::Pair q = nonblocking_pair();  // takes the lowest free numbers again
    REQUIRE(q.a.get() == number);
    REQUIRE(::write(q.b.get(), "n", 1) == 1);
    polled = poll_in(q.a.get(), 0);  // a zero timeout never parks: the kernel's answer
    CHECK(polled == 1);
    polled = poll_in(q.a.get(), 3000);
  });
  co::run();
  CHECK(polled == 1);
}

TEST_CASE("not-ready note: a dup of a noted fd reads what arrives") {
  const hooks_test::Pair p = nonblocking_pair();
  int polled = -1;
  co::go([&] {
    one_parked_round(p);
    recv_eagain(p.a.get());
    const Fd copy(::dup(p.a.get()));
    REQUIRE(copy.get() >= 0);
    REQUIRE(::write(p.b.get(), "c", 1) == 1);
    polled = poll_in(copy.get(), 3000);
    char c;
    CHECK(::recv(copy.get(), &c, 1, MSG_DONTWAIT) == 1);
  });
  co::run();
  CHECK(polled == 1);
}

TEST_CASE("not-ready note: a full socket's EAGAIN is noted and poll(POLLOUT) wakes on room") {
  const hooks_test::Pair p = nonblocking_pair();
  int polled = -1;
  short revents = 0;
  double waited = 0;
  co::go([&] {
    one_parked_round(p);
    static char chunk[65536];
    while (::send(p.a.get(), chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
    }
    REQUIRE(errno == EAGAIN);  // noted for writing
    co::go([&] {
      co::sleep_for(30ms);
      while (::recv(p.b.get(), chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
      }
    });
    pollfd q{p.a.get(), POLLOUT, 0};
    const co::Deadline start = co::now_ns();
    polled = ::poll(&q, 1, 3000);
    waited = seconds_since(start);
    revents = q.revents;
  });
  co::run();
  CHECK(polled == 1);
  CHECK(revents == POLLOUT);
  CHECK(waited >= 0.02);
  CHECK(waited < 1.5 * kSlack);
}
