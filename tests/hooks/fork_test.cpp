// fork() from the thread's own stack while its scheduler has coroutines parked on hooked fds:
// the child gets its own epoll instance (the runtime's atfork handler) and can run
// coroutines doing hooked I/O; the parent's coroutines and registrations are untouched,
// even after the child closed its copies of the parent's fds.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"

using hooks_test::Fd;
using hooks_test::seconds_since;

namespace {

// Child failure bits, reported through the exit status (the child must not touch doctest).
enum ChildFailure : int {
  kInheritedNotWoken = 1 << 0,  // closing an inherited fd did not end the inherited wait
  kEchoWrong = 1 << 1,          // an echo came back wrong or an I/O call failed
  kNotConcurrent = 1 << 2,      // the child's coroutines did not overlap (took ~N x delay)
  kSleeperMissing = 1 << 3,     // the inherited sleeping coroutine never finished
};

constexpr int kChildPairs = 20;

// child_main runs in the forked child: releases what it inherited, then runs its own
// coroutines; returns the exit status.
int child_main(hooks_test::Pair& inherited, const ssize_t* inherited_result,
               const bool* sleeper_done) {
  int failures = 0;
  // The parent's reader coroutine is parked on inherited.a here too (memory is copied).
  // Closing our copy wakes it in the child with EBADF; the parent's copy is unaffected.
  inherited.a.reset();
  inherited.b.reset();
  co::yield();  // the woken reader runs now (before any new fd could reuse the number)
  if (*inherited_result != -1) failures |= kInheritedNotWoken;
  int echoed = 0;
  int bad = 0;
  std::vector<hooks_test::Pair> pairs;
  for (int i = 0; i < kChildPairs; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return kEchoWrong;
    pairs.push_back(hooks_test::Pair{Fd(sv[0]), Fd(sv[1])});
  }
  const co::Deadline start = co::now_ns();
  for (int i = 0; i < kChildPairs; ++i) {
    co::go([&, i] {  // server: read, pause 100 ms, echo
      char buf[4];
      if (!hooks_test::read_exact(pairs[i].b.get(), buf, sizeof buf)) {
        ++bad;
        return;
      }
      ::usleep(100'000);
      if (!hooks_test::write_all(pairs[i].b.get(), buf, sizeof buf)) ++bad;
    });
    co::go([&, i] {  // client
      char out[4] = {'c', static_cast<char>('0' + i % 10), 'x', '\n'};
      char in[4];
      if (!hooks_test::write_all(pairs[i].a.get(), out, sizeof out) ||
          !hooks_test::read_exact(pairs[i].a.get(), in, sizeof in) ||
          std::memcmp(in, out, 4) != 0) {
        ++bad;
        return;
      }
      ++echoed;
    });
  }
  co::run();
  const double elapsed = seconds_since(start);
  if (bad != 0 || echoed != kChildPairs) failures |= kEchoWrong;
  if (elapsed > 1.0) failures |= kNotConcurrent;  // serial: 20 x 0.1 s = 2 s
  if (!*sleeper_done) failures |= kSleeperMissing;
  return failures;
}

// vfork_close_exit: a vfork child that closes fd (through the hook) and exits, as the
// close-fds step between vfork and exec does. Kept out of line so nothing of the caller's
// frame can be clobbered.
__attribute__((noinline)) pid_t vfork_close_exit(int fd) {
  const pid_t pid = ::vfork();
  if (pid == 0) {
    ::close(fd);
    ::_exit(0);
  }
  return pid;
}

// ThreadSanitizer does not support fork() in a process that has run threads (its own
// background thread included): the fork itself can deadlock. The TSan build skips these.
#if defined(__SANITIZE_THREAD__)
constexpr bool kSkipFork = true;
#else
constexpr bool kSkipFork = false;
#endif

}  // namespace

TEST_CASE("fork: the child runs hooked coroutines on its own epoll; the parent is unaffected" *
          doctest::skip(kSkipFork)) {
  cofcgi_test::LeakCheck leaks;
  // A program has closed fds on this thread before it forks (the hooks may cache per-thread
  // facts on a close, such as the thread id).
  { auto scratch = hooks_test::pipe_pair(); }
  auto inherited = hooks_test::socket_pair();
  const timeval tv{5, 0};  // a lost registration ends in EAGAIN after 5 s, not in a hang
  REQUIRE(::setsockopt(inherited.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  ssize_t inherited_result = -2;
  char inherited_byte = 0;
  bool sleeper_done = false;
  co::go([&] { inherited_result = ::read(inherited.a.get(), &inherited_byte, 1); });
  co::go([&] {
    ::usleep(200'000);
    sleeper_done = true;
  });
  co::yield();                      // from the thread's own stack: runs both until they park
  REQUIRE(inherited_result == -2);  // parked, registered with this thread's epoll

  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int failures = child_main(inherited, &inherited_result, &sleeper_done);
    ::_exit(failures);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);  // the child is done (and closed its copies)
  REQUIRE(WIFEXITED(status));
  const int failures = WEXITSTATUS(status);
  CHECK_MESSAGE((failures & kInheritedNotWoken) == 0,
                "child: closing an inherited fd did not wake its waiter");
  CHECK_MESSAGE((failures & kEchoWrong) == 0, "child: hooked echo failed");
  CHECK_MESSAGE((failures & kNotConcurrent) == 0, "child: coroutines did not run concurrently");
  CHECK_MESSAGE((failures & kSleeperMissing) == 0,
                "child: the inherited sleeping coroutine did not finish");

  // The parent: its reader is still registered with its own epoll and wakes on data.
  CHECK(inherited_result == -2);
  const co::Deadline start = co::now_ns();
  REQUIRE(::write(inherited.b.get(), "p", 1) == 1);
  co::run();
  CHECK(inherited_result == 1);
  CHECK(inherited_byte == 'p');
  CHECK(sleeper_done);
  CHECK(seconds_since(start) < 1.0);

  // And the parent can keep doing hooked I/O in new coroutines.
  auto fresh = hooks_test::socket_pair();
  char got = 0;
  co::go([&] { (void)!::read(fresh.a.get(), &got, 1); });
  co::go([&] {
    ::usleep(20'000);
    (void)!::write(fresh.b.get(), "q", 1);
  });
  co::run();
  CHECK(got == 'q');
}

TEST_CASE("fork: a child that only uses plain blocking calls (no coroutines) behaves like libc" *
          doctest::skip(kSkipFork)) {
  cofcgi_test::LeakCheck leaks;
  auto pipe = hooks_test::pipe_pair();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    pipe.a.reset();
    ::usleep(50'000);  // thread's own stack: the real usleep
    const bool ok = ::write(pipe.b.get(), "child", 5) == 5;
    ::_exit(ok ? 0 : 1);
  }
  pipe.b.reset();
  char buf[8] = {};
  std::string got;
  co::go([&] {
    ssize_t n;
    while ((n = ::read(pipe.a.get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  });
  co::run();
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(got == "child");
}

TEST_CASE("fork: a vfork child's close does not touch the parent's netpoller it shares" *
          doctest::skip(kSkipFork)) {
  cofcgi_test::LeakCheck leaks;
  auto pair = hooks_test::socket_pair();
  const timeval tv{5, 0};  // a dropped registration ends in EAGAIN after 5 s, not in a hang
  REQUIRE(::setsockopt(pair.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  ssize_t r = -2;
  char c = 0;
  co::go([&] { r = ::read(pair.a.get(), &c, 1); });
  co::yield();  // parked and registered
  REQUIRE(r == -2);
  const pid_t pid = vfork_close_exit(pair.a.get());
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  co::yield();
  CHECK(r == -2);  // not woken with EBADF by the child's close
  const co::Deadline start = co::now_ns();
  REQUIRE(::write(pair.b.get(), "v", 1) == 1);
  co::run();
  CHECK(r == 1);
  CHECK(c == 'v');
  CHECK(seconds_since(start) < 1.0);
  // And the parent's own closes still do their bookkeeping (a parked reader wakes).
  auto other = hooks_test::socket_pair();
  ssize_t r2 = -2;
  int err2 = 0;
  co::go([&] {
    char x;
    r2 = ::read(other.a.get(), &x, 1);
    err2 = errno;
  });
  co::go([&] { other.a.reset(); });
  co::run();
  CHECK(r2 == -1);
  CHECK(err2 == EBADF);
}
