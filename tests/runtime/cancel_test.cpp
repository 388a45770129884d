// Cancellation and deadlines (cofcgi/runtime/cancel.h): every co:: wait fails instead of
// parking in a cancelled coroutine or past its DeadlineScope, and a parked wait is woken.
#include <doctest/doctest.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>

#include "co_routine.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"

using namespace std::chrono_literals;

namespace {

double seconds_since(co::Deadline start) { return static_cast<double>(co::now_ns() - start) / 1e9; }

// error_of runs fn and returns the errno of the std::system_error it threw, 0 if none.
int error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::system_error& e) {
    return e.code().value();
  }
  return 0;
}

struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd) == 0); }
  ~SocketPair() {
    for (int f : fd) {
      co::fd_closing(f);
      ::close(f);
    }
  }
};

// The waits under test, each parking for long unless interrupted. Run in a coroutine.
struct Waits {
  co::Mutex held;  // locked by the test before the waits run
  co::CondVar cond;
  co::Mutex cond_mutex;
  co::Semaphore empty_semaphore{0};
  co::Channel<int> channel{0};
  co::WaitGroup group;
  SocketPair sockets;

  std::function<void()> by_name(const std::string& name) {
    if (name == "sleep_for") return [] { co::sleep_for(10s); };
    if (name == "Mutex::lock") return [this] { held.lock(); };
    if (name == "CondVar::wait") {
      return [this] {
        std::unique_lock<co::Mutex> lock(cond_mutex);
        const int err = error_of([&] { cond.wait(lock); });
        CHECK(lock.owns_lock());  // held again after an interrupted wait
        if (err != 0) throw std::system_error(err, std::generic_category());
      };
    }
    if (name == "Semaphore::acquire") return [this] { empty_semaphore.acquire(); };
    if (name == "Channel::receive") return [this] { (void)channel.receive(); };
    if (name == "Channel::send") return [this] { (void)channel.send(1); };
    if (name == "WaitGroup::wait") return [this] { group.wait(); };
    if (name == "wait_fd") {
      return [this] {
        co::WakeReason reason = co::WakeReason::notified;
        REQUIRE(co::wait_fd(sockets.fd[0], POLLIN, co::kNoDeadline, &reason) == 0);
        if (const int err = co::interruption_errno(reason))
          throw std::system_error(err, std::generic_category());
      };
    }
    if (name == "poll_fds") {
      return [this] {
        pollfd p{sockets.fd[0], POLLIN, 0};
        if (co::poll_fds(&p, 1, 10000) < 0) throw std::system_error(errno, std::generic_category());
      };
    }
    FAIL("no wait named " << name);
    return {};
  }
};

const char* const kWaitNames[] = {"sleep_for",          "Mutex::lock",      "CondVar::wait",
                                  "Semaphore::acquire", "Channel::receive", "Channel::send",
                                  "WaitGroup::wait",    "wait_fd",          "poll_fds"};

}  // namespace

TEST_CASE("cancel: a parked wait of every kind is woken with ECANCELED, the next fails at once") {
  for (const char* name : kWaitNames) {
    CAPTURE(name);
    cofcgi_test::LeakCheck leaks;
    Waits waits;
    waits.group.add();
    int first = 0, second = 0;
    double waited = 0;
    int other_ran_during_second = -1;
    int ticks = 0;
    co::CancelHandle handle, holder;
    co::go([&] {
      holder = co::CancelHandle::current();
      std::unique_lock<co::Mutex> hold(waits.held);  // taken before the waiter parks on it
      CHECK(error_of([] { co::sleep_for(10s); }) == ECANCELED);  // until cancelled below
    });
    co::go([&] {
      handle = co::CancelHandle::current();
      const co::Deadline start = co::now_ns();
      first = error_of(waits.by_name(name));
      waited = seconds_since(start);
      CHECK(co::cancelled());
      const int before = ticks;
      second = error_of(waits.by_name(name));
      other_ran_during_second = ticks - before;  // 0: it did not park
    });
    co::go([&] {
      for (; ticks < 5; ++ticks) co::sleep_for(2ms);
      CHECK(handle.cancel());  // first: the holder's unlock must not hand it the mutex
      CHECK(holder.cancel());
    });
    co::run();
    CHECK(first == ECANCELED);
    CHECK(second == ECANCELED);
    CHECK(other_ran_during_second == 0);
    CHECK(waited < 2.0);
    CHECK_FALSE(handle.alive());
    CHECK_FALSE(handle.cancel());
  }
}

TEST_CASE("cancel: DeadlineScope wakes a parked wait of every kind with ETIMEDOUT in time") {
  for (const char* name : kWaitNames) {
    CAPTURE(name);
    cofcgi_test::LeakCheck leaks;
    Waits waits;
    waits.group.add();
    int first = 0, second = 0, after_scope = -1;
    double waited = 0;
    co::go([&] {
      std::unique_lock<co::Mutex> hold(waits.held);
      co::sleep_for(60ms);
    });
    co::go([&] {
      const co::Deadline start = co::now_ns();
      {
        co::DeadlineScope scope(30ms);
        first = error_of(waits.by_name(name));
        waited = seconds_since(start);
        CHECK(co::interruption() == ETIMEDOUT);
        second = error_of(waits.by_name(name));
      }
      CHECK(co::current_deadline() == co::kNoDeadline);
      CHECK(co::interruption() == 0);
      // Outside the scope the coroutine waits normally again: a wait with its own short
      // timeout times out as usual.
      co::DeadlineScope none(10s);
      after_scope = error_of([] { co::sleep_for(1ms); });
    });
    co::run();
    CHECK(first == ETIMEDOUT);
    CHECK(second == ETIMEDOUT);
    CHECK(after_scope == 0);
    CHECK(waited >= 0.029);
    CHECK(waited < 2.0);
  }
}

TEST_CASE("cancel: a deadline of zero fails the first wait at once, without parking") {
  cofcgi_test::LeakCheck leaks;
  int err = 0, ticks_seen = -1, ticks = 0;
  co::WakeReason reason = co::WakeReason::notified;
  co::go([&] {
    co::DeadlineScope scope(0ns);
    CHECK(co::interruption() == ETIMEDOUT);
    const int before = ticks;
    err = error_of([] { co::sleep_for(1s); });
    reason = co::park_until(co::kNoDeadline);
    ticks_seen = ticks - before;
  });
  co::go([&] { ++ticks; });
  co::run();
  CHECK(err == ETIMEDOUT);
  CHECK(reason == co::WakeReason::deadline_exceeded);
  CHECK(ticks_seen == 0);
}

TEST_CASE("cancel: nested DeadlineScopes keep the earliest and put the outer one back") {
  cofcgi_test::LeakCheck leaks;
  co::go([&] {
    co::DeadlineScope outer(50ms);
    const co::Deadline outer_deadline = co::current_deadline();
    {
      auto earlier = co::DeadlineScope::until(co::deadline_after(1ms));
      CHECK(co::current_deadline() < outer_deadline);
    }
    CHECK(co::current_deadline() == outer_deadline);
    {
      co::DeadlineScope later(10s);  // later than the outer one: no effect
      CHECK(co::current_deadline() == outer_deadline);
      const co::Deadline start = co::now_ns();
      CHECK(co::park_until(co::kNoDeadline) == co::WakeReason::deadline_exceeded);
      CHECK(seconds_since(start) < 2.0);
    }
    CHECK(co::current_deadline() == outer_deadline);
  });
  co::run();
}

TEST_CASE("cancel: a wait's own timeout before the scope's deadline is an ordinary timeout") {
  cofcgi_test::LeakCheck leaks;
  co::go([&] {
    co::DeadlineScope scope(10s);
    CHECK(co::park_until(co::deadline_after(5ms)) == co::WakeReason::timeout);
    co::Mutex m;
    m.lock();
    co::go([&] { CHECK_FALSE(m.try_lock_for(5ms)); });  // false, no exception
    co::sleep_for(20ms);
    m.unlock();
    co::CondVar cv;
    CHECK_FALSE(cv.wait_until(co::deadline_after(1ms)));
    co::Channel<int> ch(1);
    CHECK_FALSE(ch.receive(co::deadline_after(1ms)).has_value());
  });
  co::run();
}

TEST_CASE("cancel: a cancelled waiter is never handed the mutex; the next one is") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex m;
  co::CancelHandle second;
  int second_error = 0;
  bool third_locked = false;
  co::go([&] {
    m.lock();
    co::sleep_for(10ms);
    second.cancel();
    m.unlock();
  });
  co::go([&] {
    second = co::CancelHandle::current();
    second_error = error_of([&] { m.lock(); });
  });
  co::go([&] {
    m.lock();
    third_locked = true;
    m.unlock();
  });
  co::run();
  CHECK(second_error == ECANCELED);
  CHECK(third_locked);
}

TEST_CASE("cancel: an unbuffered send cut short drops its value") {
  cofcgi_test::LeakCheck leaks;
  co::Channel<int> ch(0);
  int err = 0;
  co::go([&] {
    co::DeadlineScope scope(5ms);
    err = error_of([&] { ch.send(7); });
  });
  co::run();
  CHECK(err == ETIMEDOUT);
  CHECK(ch.size() == 0);
}

TEST_CASE("cancel: a CancelShield lets clean-up wait; the flag holds after it") {
  cofcgi_test::LeakCheck leaks;
  co::CancelHandle handle;
  co::Deadline shielded_for = 0;
  int after = 0;
  co::go([&] {
    handle = co::CancelHandle::current();
    {
      const co::CancelShield shield;
      CHECK(co::interruption() == 0);
      const co::Deadline start = co::now_ns();
      co::sleep_for(30ms);  // cancelled meanwhile, not woken
      shielded_for = co::now_ns() - start;
    }
    CHECK(co::interruption() == ECANCELED);
    after = error_of([] { co::sleep_for(1s); });
  });
  co::go([&] {
    co::sleep_for(5ms);
    handle.cancel();
  });
  co::run();
  CHECK(shielded_for >= 29'000'000);
  CHECK(after == ECANCELED);
}

TEST_CASE("cancel: a handle of a finished coroutine, of a suspended one, and an empty one") {
  cofcgi_test::LeakCheck leaks;
  co::CancelHandle empty;
  CHECK_FALSE(empty.alive());
  CHECK_FALSE(empty.cancel());
  CHECK_FALSE(co::CancelHandle::current().alive());  // the thread's own stack
  co::CancelHandle done;
  co::go([&] { done = co::CancelHandle::current(); });
  co::run();
  CHECK_FALSE(done.alive());
  CHECK_FALSE(done.cancel());
  co::CancelHandle copy = done;  // copies of a dead handle are fine
  CHECK_FALSE(copy.alive());
}

TEST_CASE("cancel: libco's co_cond_timedwait and co_poll report ECANCELED") {
  cofcgi_test::LeakCheck leaks;
  stCoCond_t* cond = co_cond_alloc();
  SocketPair sp;
  int cond_rc = 0, cond_errno = 0, poll_rc = 0, poll_errno = 0;
  co::CancelHandle handle;
  co::go([&] {
    handle = co::CancelHandle::current();
    cond_rc = co_cond_timedwait(cond, 10000);
    cond_errno = errno;
    pollfd p{sp.fd[0], POLLIN, 0};
    poll_rc = co_poll(co_get_epoll_ct(), &p, 1, 10000);
    poll_errno = errno;
  });
  co::go([&] {
    co::sleep_for(2ms);
    handle.cancel();
  });
  co::run();
  co_cond_free(cond);
  CHECK(cond_rc == -1);
  CHECK(cond_errno == ECANCELED);
  CHECK(poll_rc == -1);
  CHECK(poll_errno == ECANCELED);
}
