// The netpoller through its public face: co::wait_fd, co::fd_closing and co::poll_fds.
// Readiness is edge-triggered, so every fd here is non-blocking and every wait follows an
// operation that returned EAGAIN.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cofcgi/runtime.h"
#include "leak_check.h"

using namespace std::chrono_literals;

namespace {

double seconds_since(co::Deadline start) { return static_cast<double>(co::now_ns() - start) / 1e9; }

// Closes the way the hooks layer does: tell the netpoller first, then the real close.
void close_fd(int& fd) {
  if (fd < 0) return;
  co::fd_closing(fd);
  ::close(fd);
  fd = -1;
}

struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() {
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd) == 0);
  }
  ~SocketPair() {
    close_fd(fd[0]);
    close_fd(fd[1]);
  }
};

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() { REQUIRE(::pipe2(fd, O_NONBLOCK | O_CLOEXEC) == 0); }
  ~Pipe() {
    close_fd(fd[0]);
    close_fd(fd[1]);
  }
};

struct EventFd {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  EventFd() { REQUIRE(fd >= 0); }
  ~EventFd() { close_fd(fd); }
};

// Reads one byte, parking on EAGAIN. Returns the byte, or -1 if the wait ended otherwise.
int read_byte(int fd, co::WakeReason* last_reason = nullptr) {
  for (;;) {
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n == 1) return static_cast<unsigned char>(c);
    REQUIRE(n == -1);
    REQUIRE(errno == EAGAIN);
    co::WakeReason reason;
    REQUIRE(co::wait_fd(fd, POLLIN, co::kNoDeadline, &reason) == 0);
    if (last_reason) *last_reason = reason;
    if (reason != co::WakeReason::notified) return -1;
  }
}

void write_byte(int fd, char c) { REQUIRE(::write(fd, &c, 1) == 1); }

// Fills a non-blocking socket's send buffer until write says EAGAIN; returns bytes written.
std::size_t fill(int fd) {
  static char chunk[65536];
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::write(fd, chunk, sizeof chunk);
    if (n < 0) {
      REQUIRE(errno == EAGAIN);
      return total;
    }
    total += static_cast<std::size_t>(n);
  }
}

std::size_t drain(int fd) {
  static char chunk[65536];
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) return total;
    total += static_cast<std::size_t>(n);
  }
}

}  // namespace

TEST_CASE("netpoll: wait_fd parks the reader until a writer coroutine writes") {
  cofcgi_test::LeakCheck leaks;
  const std::size_t polled_before = co::stats().polled_fds;
  {
    SocketPair sp;
    bool written = false;
    bool reader_saw_write_first = false;
    int got = -1;
    int other_ran = 0;
    double waited = 0;
    co::go([&] {
      const co::Deadline start = co::now_ns();
      got = read_byte(sp.fd[0]);
      waited = seconds_since(start);
      reader_saw_write_first = written;
    });
    co::go([&] {
      co::sleep_for(50ms);
      written = true;
      write_byte(sp.fd[1], 'x');
    });
    co::go([&] { ++other_ran; });  // the parked reader must not hold the thread
    co::run();
    CHECK(got == 'x');
    CHECK(reader_saw_write_first);
    CHECK(other_ran == 1);
    CHECK(waited >= 0.05);
    CHECK(waited < 1.0);
    CHECK(co::stats().polled_fds == polled_before + 1);
  }
  CHECK(co::stats().polled_fds == polled_before);
}

TEST_CASE("netpoll: three coroutines waiting on one fd all wake") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  int woke = 0;
  int parked = 0;
  std::vector<co::WakeReason> reasons;
  for (int i = 0; i < 3; ++i) {
    co::go([&] {
      char c;
      REQUIRE(::read(sp.fd[0], &c, 1) == -1);
      REQUIRE(errno == EAGAIN);
      ++parked;
      co::WakeReason reason = co::WakeReason::timeout;
      REQUIRE(co::wait_fd(sp.fd[0], POLLIN, co::deadline_after(5s), &reason) == 0);
      reasons.push_back(reason);
      ++woke;
    });
  }
  co::go([&] {
    co::sleep_for(30ms);
    CHECK(parked == 3);
    CHECK(woke == 0);
    write_byte(sp.fd[1], 'a');
  });
  const co::Deadline start = co::now_ns();
  co::run();
  CHECK(seconds_since(start) < 2.0);
  CHECK(woke == 3);
  CHECK(reasons == std::vector<co::WakeReason>(3, co::WakeReason::notified));
}

TEST_CASE("netpoll: a writer parked on a full socket wakes when the peer drains it") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  std::size_t filled = 0;
  co::WakeReason reason = co::WakeReason::timeout;
  bool drained = false;
  bool woke_after_drain = false;
  co::go([&] {
    filled = fill(sp.fd[0]);
    REQUIRE(co::wait_fd(sp.fd[0], POLLOUT, co::deadline_after(5s), &reason) == 0);
    woke_after_drain = drained;
    char c = 'z';
    CHECK(::write(sp.fd[0], &c, 1) == 1);
  });
  co::go([&] {
    co::sleep_for(30ms);
    CHECK(drain(sp.fd[1]) == filled);
    drained = true;
  });
  co::run();
  CHECK(filled > 0);
  CHECK(reason == co::WakeReason::notified);
  CHECK(woke_after_drain);
}

TEST_CASE("netpoll: wait_fd for POLLIN|POLLOUT wakes on writability alone") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  co::WakeReason reason = co::WakeReason::timeout;
  double waited = 0;
  co::go([&] {
    fill(sp.fd[0]);  // not writable; nothing to read either
    const co::Deadline start = co::now_ns();
    REQUIRE(co::wait_fd(sp.fd[0], POLLIN | POLLOUT, co::deadline_after(2s), &reason) == 0);
    waited = seconds_since(start);
  });
  co::go([&] {
    co::sleep_for(30ms);
    drain(sp.fd[1]);
  });
  co::run();
  CHECK(reason == co::WakeReason::notified);
  CHECK(waited < 1.0);
}

TEST_CASE("netpoll: fd_closing wakes every waiter with WakeReason::closed") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  const std::size_t polled_before = co::stats().polled_fds;
  std::vector<co::WakeReason> reasons;
  for (int i = 0; i < 3; ++i) {
    co::go([&] {
      char c;
      REQUIRE(::read(sp.fd[0], &c, 1) == -1);
      co::WakeReason reason = co::WakeReason::notified;
      REQUIRE(co::wait_fd(sp.fd[0], POLLIN, co::deadline_after(5s), &reason) == 0);
      reasons.push_back(reason);
    });
  }
  std::size_t polled_while_waiting = 0;
  co::go([&] {
    co::sleep_for(20ms);
    polled_while_waiting = co::stats().polled_fds;
    co::fd_closing(sp.fd[0]);
    ::close(sp.fd[0]);
    sp.fd[0] = -1;
  });
  const co::Deadline start = co::now_ns();
  co::run();
  CHECK(seconds_since(start) < 2.0);
  CHECK(polled_while_waiting == polled_before + 1);
  CHECK(co::stats().polled_fds == polled_before);
  CHECK(reasons == std::vector<co::WakeReason>(3, co::WakeReason::closed));
  co::fd_closing(12345);  // an fd never seen: no-op
}

TEST_CASE("netpoll: wait_fd deadline gives WakeReason::timeout") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  co::WakeReason reason = co::WakeReason::notified;
  double waited = 0;
  int ticks = 0;
  co::go([&] {
    const co::Deadline start = co::now_ns();
    REQUIRE(co::wait_fd(sp.fd[0], POLLIN, co::deadline_after(80ms), &reason) == 0);
    waited = seconds_since(start);
  });
  co::go([&] {
    for (int i = 0; i < 4; ++i) {
      co::sleep_for(10ms);
      ++ticks;
    }
  });
  co::run();
  CHECK(reason == co::WakeReason::timeout);
  CHECK(waited >= 0.08);
  CHECK(waited < 1.0);
  CHECK(ticks == 4);
  CHECK(co::stats().pending_timers == 0);
}

TEST_CASE("netpoll: wait_fd outside a coroutine fails with EPERM; a regular file never parks") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  co::WakeReason reason = co::WakeReason::timeout;
  errno = 0;
  CHECK(co::wait_fd(sp.fd[0], POLLIN, co::deadline_after(1s), &reason) == -1);
  CHECK(errno == EPERM);

  FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  const int fd = fileno(file);
  bool returned = false;
  co::go([&] {
    REQUIRE(co::wait_fd(fd, POLLIN, co::kNoDeadline, &reason) == 0);
    CHECK(reason == co::WakeReason::notified);
    returned = true;
  });
  co::run();
  CHECK(returned);
  co::fd_closing(fd);
  std::fclose(file);
}

TEST_CASE("netpoll: poll_fds over a socket, an eventfd and a pipe wakes on the ready one") {
  cofcgi_test::LeakCheck leaks;
  // Created on the thread's own stack, outside any coroutine.
  SocketPair sp;
  EventFd ev;
  Pipe pipe;
  int results[3] = {-1, -1, -1};
  short revents[3][4] = {};
  double waited[3] = {};
  co::go([&] {
    pollfd fds[4] = {
        {sp.fd[0], POLLIN, 0},
        {ev.fd, POLLIN, 0},
        {-1, POLLIN, 0},  // ignored, as by poll(2)
        {pipe.fd[0], POLLIN, 0},
    };
    for (int round = 0; round < 3; ++round) {
      for (pollfd& p : fds) p.revents = 0x7fff;  // poll_fds must overwrite these
      const co::Deadline start = co::now_ns();
      results[round] = co::poll_fds(fds, 4, 5000);
      waited[round] = seconds_since(start);
      for (int i = 0; i < 4; ++i) revents[round][i] = fds[i].revents;
      // Consume what woke us so the next round starts with nothing ready.
      if (fds[0].revents & POLLIN) drain(sp.fd[0]);
      if (fds[1].revents & POLLIN) {
        std::uint64_t v;
        CHECK(::read(ev.fd, &v, sizeof v) == sizeof v);
      }
      if (fds[3].revents & POLLIN) drain(pipe.fd[0]);
    }
  });
  co::go([&] {
    co::sleep_for(50ms);
    write_byte(pipe.fd[1], 'p');
    co::sleep_for(50ms);
    const std::uint64_t one = 1;
    REQUIRE(::write(ev.fd, &one, sizeof one) == sizeof one);
    co::sleep_for(50ms);
    close_fd(pipe.fd[1]);  // the read end now reports a hang-up
  });
  co::run();
  // Round 0: the pipe got a byte.
  CHECK(results[0] == 1);
  CHECK(revents[0][0] == 0);
  CHECK(revents[0][1] == 0);
  CHECK(revents[0][2] == 0);
  CHECK(revents[0][3] == POLLIN);
  // Round 1: the eventfd was signalled.
  CHECK(results[1] == 1);
  CHECK(revents[1][0] == 0);
  CHECK(revents[1][1] == POLLIN);
  CHECK(revents[1][2] == 0);
  CHECK(revents[1][3] == 0);
  // Round 2: the pipe's write end closed.
  CHECK(results[2] == 1);
  CHECK(revents[2][0] == 0);
  CHECK(revents[2][1] == 0);
  CHECK(revents[2][2] == 0);
  CHECK(revents[2][3] == POLLHUP);
  for (double w : waited) {
    CHECK(w >= 0.04);
    CHECK(w < 1.0);
  }
}

TEST_CASE("netpoll: poll_fds for POLLOUT parks until the peer drains") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  int result = -1;
  short revents = 0;
  co::go([&] {
    fill(sp.fd[0]);
    pollfd p{sp.fd[0], POLLOUT, 0};
    result = co::poll_fds(&p, 1, 5000);
    revents = p.revents;
  });
  co::go([&] {
    co::sleep_for(30ms);
    drain(sp.fd[1]);
  });
  co::run();
  CHECK(result == 1);
  CHECK(revents == POLLOUT);
}

TEST_CASE("netpoll: poll_fds(nullptr, 0, 100) sleeps about 100 ms and lets others run") {
  cofcgi_test::LeakCheck leaks;
  int ticks_during = -1;
  int ticks = 0;
  bool polling = true;
  double waited = 0;
  int result = -1;
  co::go([&] {
    const co::Deadline start = co::now_ns();
    result = co::poll_fds(nullptr, 0, 100);
    waited = seconds_since(start);
    ticks_during = ticks;
    polling = false;
  });
  co::go([&] {
    while (polling) {
      co::sleep_for(10ms);
      ++ticks;
    }
  });
  co::run();
  CHECK(result == 0);
  CHECK(waited >= 0.1);
  CHECK(waited < 1.0);
  CHECK(ticks_during >= 3);  // ~9 in theory; others really ran meanwhile
}

TEST_CASE("netpoll: poll_fds with timeout 0 never parks") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  bool other_ran = false;
  bool other_ran_during_poll = true;
  int empty_result = -1;
  int ready_result = -1;
  short ready_revents = 0;
  co::go([&] {
    pollfd p{sp.fd[0], POLLIN, 0};
    empty_result = co::poll_fds(&p, 1, 0);
    CHECK(p.revents == 0);
    other_ran_during_poll = other_ran;
    write_byte(sp.fd[1], 'r');
    pollfd q{sp.fd[0], POLLIN | POLLOUT, 0};
    ready_result = co::poll_fds(&q, 1, 0);
    ready_revents = q.revents;
    CHECK_FALSE(other_ran);
    CHECK(co::poll_fds(nullptr, 0, 0) == 0);
    CHECK_FALSE(other_ran);
  });
  co::go([&] { other_ran = true; });
  co::run();
  CHECK(empty_result == 0);
  CHECK_FALSE(other_ran_during_poll);
  CHECK(ready_result == 1);
  CHECK(ready_revents == (POLLIN | POLLOUT));
  CHECK(other_ran);
}

TEST_CASE("netpoll: poll_fds on the thread's own stack is plain poll") {
  cofcgi_test::LeakCheck leaks;
  REQUIRE_FALSE(co::in_coroutine());
  const std::size_t polled_before = co::stats().polled_fds;
  SocketPair sp;
  EventFd ev;
  pollfd fds[2] = {{sp.fd[0], POLLIN, 0}, {ev.fd, POLLIN, 0}};
  // Nothing ready: blocks the thread for the timeout and reports 0.
  co::Deadline start = co::now_ns();
  CHECK(co::poll_fds(fds, 2, 60) == 0);
  CHECK(seconds_since(start) >= 0.06);
  CHECK(fds[0].revents == 0);
  CHECK(fds[1].revents == 0);
  // Ready: exact revents at once.
  write_byte(sp.fd[1], 'm');
  start = co::now_ns();
  CHECK(co::poll_fds(fds, 2, -1) == 1);
  CHECK(seconds_since(start) < 0.5);
  CHECK(fds[0].revents == POLLIN);
  CHECK(fds[1].revents == 0);
  CHECK(co::poll_fds(fds, 2, 0) == 1);
  // The poller is not involved: nothing got registered.
  CHECK(co::stats().polled_fds == polled_before);
}

TEST_CASE("netpoll: a not-ready note is kept while registered, until an edge or fd_closing") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  bool before_registration = true, after_note = false, after_edge = true, after_close = true;
  bool write_side = true, errno_kept = false;
  co::go([&] {
    // Not registered with the netpoller yet: nothing vouches for the note, it is not kept.
    co::note_fd_not_ready(sp.fd[0], POLLIN);
    before_registration = co::fd_known_not_ready(sp.fd[0], POLLIN);
    co::go([&] { write_byte(sp.fd[1], 'a'); });
    REQUIRE(read_byte(sp.fd[0]) == 'a');  // parks once: registered now
    errno = EILSEQ;
    co::note_fd_not_ready(sp.fd[0], POLLIN);
    errno_kept = errno == EILSEQ;
    after_note = co::fd_known_not_ready(sp.fd[0], POLLIN);
    write_side = co::fd_known_not_ready(sp.fd[0], POLLOUT) ||
                 co::fd_known_not_ready(sp.fd[0], POLLIN | POLLOUT);
    write_byte(sp.fd[1], 'b');
    co::sleep_for(std::chrono::milliseconds(5));  // the loop takes the edge off epoll
    after_edge = co::fd_known_not_ready(sp.fd[0], POLLIN);
    REQUIRE(read_byte(sp.fd[0]) == 'b');
    co::note_fd_not_ready(sp.fd[0], POLLIN);
    co::fd_closing(sp.fd[0]);
    after_close = co::fd_known_not_ready(sp.fd[0], POLLIN);
  });
  co::run();
  CHECK_FALSE(before_registration);
  CHECK(after_note);
  CHECK(errno_kept);
  CHECK_FALSE(write_side);  // only the direction noted
  CHECK_FALSE(after_edge);
  CHECK_FALSE(after_close);
}

// A short read empties a stream socket of data, not of its end: when the peer's hang-up was
// already taken off epoll (the reader was busy then), the next recv says 0 at once and no
// edge will ever come. A not-ready note made after that must not be kept, or the reader
// parks forever (connection_fuzz regressions/connection_fuzz/stall-short-read-after-eof).
TEST_CASE("netpoll: no read is noted not ready once epoll reported the peer's hang-up") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  bool kept_after_hangup = true, write_kept = false;
  co::go([&] {
    co::go([&] { write_byte(sp.fd[1], 'a'); });
    REQUIRE(read_byte(sp.fd[0]) == 'a');  // parks once: registered now
    write_byte(sp.fd[1], 'b');
    REQUIRE(::shutdown(sp.fd[1], SHUT_WR) == 0);
    co::sleep_for(std::chrono::milliseconds(5));  // the loop takes data + hang-up off epoll
    char buf[16];
    REQUIRE(::read(sp.fd[0], buf, sizeof buf) == 1);  // short: no data left, the end is
    co::note_fd_not_ready(sp.fd[0], POLLIN);
    kept_after_hangup = co::fd_known_not_ready(sp.fd[0], POLLIN);
    CHECK(::read(sp.fd[0], buf, sizeof buf) == 0);
    co::note_fd_not_ready(sp.fd[0], POLLOUT);  // the write side is still open
    write_kept = co::fd_known_not_ready(sp.fd[0], POLLOUT);
  });
  co::run();
  CHECK_FALSE(kept_after_hangup);
  CHECK(write_kept);
}

// Urgent data (TCP, and unix stream sockets since Linux 5.15) stops a read at its mark with
// data left behind: a short read then proves nothing. Once epoll reported EPOLLPRI, no read
// note is kept, as after a hang-up.
TEST_CASE("netpoll: no read is noted not ready once epoll reported urgent data") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  if (::send(sp.fd[1], "u", 1, MSG_OOB) != 1) {
    MESSAGE("no MSG_OOB on unix stream sockets here (Linux < 5.15): skipped");
    return;
  }
  bool kept_after_urgent = true;
  co::go([&] {
    char buf[16];
    REQUIRE(::recv(sp.fd[0], buf, sizeof buf, MSG_OOB) == 1);  // take the first mark away
    co::go([&] { write_byte(sp.fd[1], 'a'); });
    REQUIRE(read_byte(sp.fd[0]) == 'a');  // parks once: registered now
    write_byte(sp.fd[1], 'b');
    REQUIRE(::send(sp.fd[1], "u", 1, MSG_OOB) == 1);
    co::sleep_for(std::chrono::milliseconds(5));  // the loop takes the urgent edge off epoll
    co::note_fd_not_ready(sp.fd[0], POLLIN);
    kept_after_urgent = co::fd_known_not_ready(sp.fd[0], POLLIN);
  });
  co::run();
  CHECK_FALSE(kept_after_urgent);
}

// With the fd's generation (the hooks' count of its lives) a note registers an fd that was
// never waited on: a connection whose reads always found data (a fast peer) keeps its notes
// too. Registering reports what is ready already, so data that came before the note clears
// it as an edge would.
TEST_CASE("netpoll: a note with a generation registers the fd, and sees what is there") {
  cofcgi_test::LeakCheck leaks;
  SocketPair sp;
  constexpr std::uint64_t kGeneration = 7;
  bool kept_empty = false, kept_after_data = true, kept_data_before = true;
  co::go([&] {
    co::note_fd_not_ready(sp.fd[0], POLLIN, kGeneration);  // never waited on: registers
    kept_empty = co::fd_known_not_ready(sp.fd[0], POLLIN, kGeneration);
    write_byte(sp.fd[1], 'a');
    co::sleep_for(std::chrono::milliseconds(5));  // the loop takes the edge off epoll
    kept_after_data = co::fd_known_not_ready(sp.fd[0], POLLIN, kGeneration);
    REQUIRE(read_byte(sp.fd[0]) == 'a');
    co::fd_closing(sp.fd[0]);  // the registration goes; data is there when the next note comes
    write_byte(sp.fd[1], 'b');
    co::note_fd_not_ready(sp.fd[0], POLLIN, kGeneration + 1);
    co::sleep_for(std::chrono::milliseconds(5));
    kept_data_before = co::fd_known_not_ready(sp.fd[0], POLLIN, kGeneration + 1);
    REQUIRE(read_byte(sp.fd[0]) == 'b');
    co::fd_closing(sp.fd[0]);
  });
  co::run();
  CHECK(kept_empty);
  CHECK_FALSE(kept_after_data);
  CHECK_FALSE(kept_data_before);
}
