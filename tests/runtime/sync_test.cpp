// Coroutine synchronization: co::Mutex, co::CondVar, co::Semaphore, co::WaitGroup and
// co::Channel<T>, all parking coroutines of one thread.
#include <doctest/doctest.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "cofcgi/runtime.h"
#include "leak_check.h"

using namespace std::chrono_literals;

namespace {

double seconds_since(co::Deadline start) { return static_cast<double>(co::now_ns() - start) / 1e9; }

// Redirects fd 2 (where log_printf writes) into a temporary file while alive.
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()), saved_(::dup(2)) {
    REQUIRE(file_ != nullptr);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(fileno(file_), 2) == 2);
  }
  ~StderrCapture() {
    restore();
    std::fclose(file_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  // text restores stderr and returns what was written meanwhile.
  std::string text() {
    restore();
    std::string out;
    char buf[4096];
    ssize_t n;
    off_t off = 0;
    while ((n = ::pread(fileno(file_), buf, sizeof buf, off)) > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      off += n;
    }
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  FILE* file_;
  int saved_;
};

template <typename Fn>
int system_error_code(Fn&& fn) {
  try {
    fn();
  } catch (const std::system_error& e) {
    return e.code().value();
  }
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Mutex

TEST_CASE("Mutex: mutual exclusion across yields and sleeps") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex mutex;
  int inside = 0;
  int max_inside = 0;
  long counter = 0;
  for (int c = 0; c < 8; ++c) {
    co::go([&, c] {
      for (int i = 0; i < 50; ++i) {
        std::lock_guard<co::Mutex> guard(mutex);
        ++inside;
        max_inside = std::max(max_inside, inside);
        const long seen = counter;
        if ((i + c) % 7 == 0) {
          co::sleep_for(1ms);
        } else {
          co::yield();
        }
        counter = seen + 1;  // a lost update if anyone else got in meanwhile
        --inside;
      }
    });
  }
  co::run();
  CHECK(max_inside == 1);
  CHECK(counter == 8 * 50);
  CHECK(mutex.try_lock());  // free at the end (from the thread's own stack: no parking)
  mutex.unlock();
}

TEST_CASE("Mutex: ownership passes FIFO in the order of lock() calls, with no barging") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex mutex;
  std::vector<int> acquired;
  bool barged = true;
  co::go([&] {
    mutex.lock();
    acquired.push_back(0);
    co::sleep_for(20ms);  // everyone else queues meanwhile
    mutex.unlock();
    // Handed to the longest waiter: not free for a new taker.
    barged = mutex.try_lock();
    if (barged) mutex.unlock();
  });
  // Queue in the order 5, 3, 1, 4, 2, each after a different number of yields.
  const int order[] = {5, 3, 1, 4, 2};
  for (int k = 0; k < 5; ++k) {
    const int id = order[k];
    co::go([&, id, k] {
      for (int y = 0; y <= k; ++y) co::yield();
      mutex.lock();
      acquired.push_back(id);
      co::yield();
      mutex.unlock();
    });
  }
  co::run();
  CHECK_FALSE(barged);
  CHECK(acquired == std::vector<int>{0, 5, 3, 1, 4, 2});
}

TEST_CASE("Mutex: try_lock_for times out while held, succeeds once released") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex mutex;
  bool first = true;
  bool second = false;
  double first_wait = 0;
  double second_wait = 0;
  co::go([&] {
    mutex.lock();
    co::sleep_for(200ms);
    mutex.unlock();
  });
  co::go([&] {
    CHECK_FALSE(mutex.try_lock());
    co::Deadline start = co::now_ns();
    first = mutex.try_lock_for(50ms);
    first_wait = seconds_since(start);
    start = co::now_ns();
    second = mutex.try_lock_for(5s);
    second_wait = seconds_since(start);
    if (second) mutex.unlock();
  });
  co::run();
  CHECK_FALSE(first);
  CHECK(first_wait >= 0.05);
  CHECK(first_wait < 0.19);
  CHECK(second);
  CHECK(second_wait >= 0.1);  // the holder kept it ~150 ms more
  CHECK(second_wait < 1.0);
}

TEST_CASE("Mutex: a timed-out waiter is skipped by the hand-off") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex mutex;
  bool timed_out_got_it = true;
  bool late_got_it = false;
  co::go([&] {
    mutex.lock();
    co::yield();  // the others queue up
    // Hold the thread past the timed waiter's deadline, then yield: the loop expires its
    // timer, so it is woken by timeout but still in the mutex's queue when we unlock.
    const co::Deadline until = co::deadline_after(40ms);
    while (co::now_ns() < until) {
    }
    co::yield();
    mutex.unlock();
  });
  co::go([&] { timed_out_got_it = mutex.try_lock_for(20ms); });
  co::go([&] {
    late_got_it = mutex.try_lock_for(2s);  // not lock(): a lost hand-off must not hang
    if (late_got_it) mutex.unlock();
  });
  co::run();
  CHECK_FALSE(timed_out_got_it);
  CHECK(late_got_it);
  CHECK(mutex.try_lock());
  mutex.unlock();
}

TEST_CASE("Mutex: unlock by a non-owner or of a free mutex throws EPERM; relock EDEADLK") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex mutex;
  int non_owner = 0;
  int free_unlock = 0;
  int relock = 0;
  co::go([&] {
    mutex.lock();
    co::sleep_for(30ms);
    relock = system_error_code([&] { mutex.lock(); });
    mutex.unlock();
    free_unlock = system_error_code([&] { mutex.unlock(); });
  });
  co::go([&] { non_owner = system_error_code([&] { mutex.unlock(); }); });
  co::run();
  CHECK(non_owner == EPERM);
  CHECK(relock == EDEADLK);
  CHECK(free_unlock == EPERM);
  // The failed unlock did not release it: the mutex is consistent and free now.
  CHECK(mutex.try_lock());
  CHECK(system_error_code([&] { mutex.unlock(); }) == 0);
}

TEST_CASE("Mutex: destroyed while coroutines wait: they get EOWNERDEAD, an error is logged") {
  cofcgi_test::LeakCheck leaks;
  auto* mutex = new co::Mutex;
  std::vector<int> errors;
  bool timed = true;
  std::string log;
  {
    StderrCapture capture;
    co::go([&] {
      mutex->lock();
      co::sleep_for(20ms);  // the others queue up
      delete mutex;
      mutex = nullptr;
    });
    for (int i = 0; i < 3; ++i) {
      co::go([&] { errors.push_back(system_error_code([&] { mutex->lock(); })); });
    }
    co::go([&] { timed = mutex->try_lock_for(5s); });
    const co::Deadline start = co::now_ns();
    co::run();
    CHECK(seconds_since(start) < 2.0);
    log = capture.text();
  }
  CHECK(mutex == nullptr);
  CHECK(errors == std::vector<int>(3, EOWNERDEAD));
  CHECK_FALSE(timed);
  CHECK(log.find("cofcgi error") != std::string::npos);
  CHECK(log.find("co::Mutex destroyed while locked") != std::string::npos);
  CHECK(log.find("destroyed with coroutines waiting") != std::string::npos);
}

TEST_CASE("Mutex: contended lock() outside a coroutine throws EPERM; uncontended works") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex mutex;
  REQUIRE_FALSE(co::in_coroutine());
  // Uncontended: the thread's own stack may take and release it.
  mutex.lock();
  mutex.unlock();
  co::go([&] {
    mutex.lock();
    co::sleep_for(20ms);
    mutex.unlock();
  });
  co::yield();  // runs the coroutine once: it now holds the mutex and sleeps
  CHECK_FALSE(mutex.try_lock());
  CHECK(system_error_code([&] { mutex.lock(); }) == EPERM);
  CHECK(system_error_code([&] { (void)mutex.try_lock_for(10ms); }) == EPERM);
  co::run();
  CHECK(mutex.try_lock());
  mutex.unlock();
}

// ---------------------------------------------------------------------------------------
// CondVar

TEST_CASE("CondVar: wait with a predicate under std::unique_lock<co::Mutex>") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex mutex;
  co::CondVar cv;
  int value = 0;
  int seen = -1;
  bool owned_after_wait = false;
  int wakeups = 0;
  co::go([&] {
    std::unique_lock<co::Mutex> lock(mutex);
    cv.wait(lock, [&] {
      ++wakeups;
      return value == 3;
    });
    owned_after_wait = lock.owns_lock() && !mutex.try_lock();
    seen = value;
  });
  co::go([&] {
    for (int i = 1; i <= 3; ++i) {
      co::sleep_for(5ms);
      std::unique_lock<co::Mutex> lock(mutex);
      value = i;
      cv.notify_one();
    }
  });
  co::run();
  CHECK(seen == 3);
  CHECK(owned_after_wait);
  CHECK(wakeups == 4);  // the first check plus one per notification
}

TEST_CASE("CondVar: wait_for returns false on timeout, holding the lock again") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex mutex;
  co::CondVar cv;
  bool result = true;
  bool owned = false;
  double waited = 0;
  bool other_locked_meanwhile = false;
  co::go([&] {
    std::unique_lock<co::Mutex> lock(mutex);
    const co::Deadline start = co::now_ns();
    result = cv.wait_for(lock, 60ms);
    waited = seconds_since(start);
    owned = lock.owns_lock();
  });
  co::go([&] {
    // The waiter released the mutex while waiting.
    other_locked_meanwhile = mutex.try_lock();
    if (other_locked_meanwhile) mutex.unlock();
  });
  co::run();
  CHECK_FALSE(result);
  CHECK(owned);
  CHECK(waited >= 0.06);
  CHECK(waited < 1.0);
  CHECK(other_locked_meanwhile);
  CHECK(mutex.try_lock());  // the unique_lock gave it back
  mutex.unlock();
}

TEST_CASE("CondVar: notify_all wakes every waiter; notify_one just one") {
  cofcgi_test::LeakCheck leaks;
  co::Mutex mutex;
  co::CondVar cv;
  int woke = 0;
  bool go_on = false;
  int woke_after_one = -1;
  for (int i = 0; i < 5; ++i) {
    co::go([&] {
      std::unique_lock<co::Mutex> lock(mutex);
      CHECK(cv.wait_for(lock, 5s));
      ++woke;
      co::yield();  // still holding the mutex: the others queue on it
    });
  }
  co::go([&] {
    co::sleep_for(10ms);
    CHECK(cv.notify_one());
    co::sleep_for(10ms);
    woke_after_one = woke;
    cv.notify_all();
    go_on = true;
  });
  co::run();
  CHECK(woke_after_one == 1);
  CHECK(woke == 5);
  CHECK(go_on);
  CHECK_FALSE(cv.notify_one());  // nobody waits any more
}

TEST_CASE("CondVar: without a mutex, wait_until reports notification and timeout") {
  cofcgi_test::LeakCheck leaks;
  co::CondVar cv;
  bool notified = false;
  bool timed = true;
  co::go([&] { notified = cv.wait_until(co::deadline_after(5s)); });
  co::go([&] { timed = cv.wait_until(co::deadline_after(30ms)); });
  co::go([&] {
    co::sleep_for(60ms);
    cv.notify_all();
  });
  co::run();
  CHECK(notified);
  CHECK_FALSE(timed);
}

// ---------------------------------------------------------------------------------------
// Semaphore

TEST_CASE("Semaphore: limits concurrency to N") {
  cofcgi_test::LeakCheck leaks;
  co::Semaphore sem(3);
  int active = 0;
  int max_active = 0;
  int finished = 0;
  for (int i = 0; i < 12; ++i) {
    co::go([&, i] {
      sem.acquire();
      ++active;
      max_active = std::max(max_active, active);
      if (i % 2) {
        co::sleep_for(5ms);
      } else {
        co::yield();
      }
      --active;
      ++finished;
      sem.release();
    });
  }
  co::run();
  CHECK(max_active == 3);
  CHECK(finished == 12);
  CHECK(sem.count() == 3);
}

TEST_CASE("Semaphore: try_acquire and try_acquire_for time out at zero") {
  cofcgi_test::LeakCheck leaks;
  co::Semaphore sem(0);
  CHECK_FALSE(sem.try_acquire());
  bool first = true;
  bool second = false;
  double first_wait = 0;
  co::go([&] {
    const co::Deadline start = co::now_ns();
    first = sem.try_acquire_for(50ms);
    first_wait = seconds_since(start);
    second = sem.try_acquire_for(5s);
  });
  co::go([&] {
    co::sleep_for(100ms);
    sem.release();
  });
  co::run();
  CHECK_FALSE(first);
  CHECK(first_wait >= 0.05);
  CHECK(first_wait < 0.5);
  CHECK(second);
  CHECK(sem.count() == 0);
  sem.release(2);
  CHECK(sem.count() == 2);
  CHECK(sem.try_acquire());
  CHECK(sem.try_acquire());
  CHECK_FALSE(sem.try_acquire());
}

TEST_CASE("Semaphore: destroyed while coroutines wait: acquire throws EOWNERDEAD") {
  cofcgi_test::LeakCheck leaks;
  auto* sem = new co::Semaphore(0);
  std::vector<int> errors;
  bool timed = true;
  std::string log;
  {
    StderrCapture capture;
    for (int i = 0; i < 2; ++i) {
      co::go([&] { errors.push_back(system_error_code([&] { sem->acquire(); })); });
    }
    co::go([&] { timed = sem->try_acquire_for(5s); });
    co::go([&] {
      co::sleep_for(10ms);
      delete sem;
      sem = nullptr;
    });
    co::run();
    log = capture.text();
  }
  CHECK(errors == std::vector<int>(2, EOWNERDEAD));
  CHECK_FALSE(timed);
  CHECK(log.find("destroyed with coroutines waiting") != std::string::npos);
}

// ---------------------------------------------------------------------------------------
// WaitGroup

TEST_CASE("WaitGroup: wait returns only after every done()") {
  cofcgi_test::LeakCheck leaks;
  co::WaitGroup wg;
  int done = 0;
  int done_at_wake = -1;
  wg.add(5);
  CHECK(wg.count() == 5);
  for (int i = 0; i < 5; ++i) {
    co::go([&, i] {
      co::sleep_for(std::chrono::milliseconds(10 * (5 - i)));
      ++done;
      wg.done();
    });
  }
  co::go([&] {
    wg.wait();
    done_at_wake = done;
  });
  co::run();
  CHECK(done_at_wake == 5);
  CHECK(wg.count() == 0);
  wg.wait();  // zero: returns at once, even outside a coroutine
}

TEST_CASE("WaitGroup: done() more often than add() throws std::logic_error") {
  cofcgi_test::LeakCheck leaks;
  co::WaitGroup wg;
  CHECK_THROWS_AS(wg.done(), std::logic_error);
  wg.add(2);
  wg.done();
  wg.done();
  CHECK_THROWS_AS(wg.done(), std::logic_error);
  CHECK(wg.count() == 0);
}

// ---------------------------------------------------------------------------------------
// Channel

TEST_CASE("Channel: buffered, capacity 4: order kept, sender parks when full") {
  cofcgi_test::LeakCheck leaks;
  co::Channel<int> ch(4);
  int sent = 0;
  int sent_before_receiving = -1;
  std::size_t size_when_full = 0;
  std::vector<int> got;
  co::go([&] {
    for (int i = 0; i < 20; ++i) {
      CHECK(ch.send(i));
      ++sent;
    }
    ch.close();
  });
  co::go([&] {
    co::sleep_for(20ms);
    sent_before_receiving = sent;
    size_when_full = ch.size();
    CHECK_FALSE(ch.try_send(99));  // full
    while (auto v = ch.receive()) got.push_back(*v);
  });
  co::run();
  CHECK(sent_before_receiving == 4);
  CHECK(size_when_full == 4);
  std::vector<int> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(i);
  CHECK(got == expected);
}

TEST_CASE("Channel: unbuffered send returns only after a receiver took the value") {
  cofcgi_test::LeakCheck leaks;
  co::Channel<int> ch;
  CHECK_FALSE(ch.try_send(1));  // nobody receiving
  bool send_returned = false;
  bool returned_before_receive = true;
  double send_took = 0;
  std::vector<int> got;
  co::go([&] {
    const co::Deadline start = co::now_ns();
    CHECK(ch.send(7));
    send_took = seconds_since(start);
    CHECK(got.size() == 1);  // the receiver already had it
    send_returned = true;
    CHECK(ch.send(8));
  });
  co::go([&] {
    co::sleep_for(40ms);
    returned_before_receive = send_returned;
    auto v = ch.receive();
    REQUIRE(v);
    got.push_back(*v);
    co::sleep_for(10ms);
    got.push_back(*ch.receive());
  });
  co::run();
  CHECK_FALSE(returned_before_receive);
  CHECK(send_returned);
  CHECK(send_took >= 0.04);
  CHECK(got == std::vector<int>{7, 8});
}

TEST_CASE("Channel: unbuffered try_send succeeds only while a receiver waits") {
  cofcgi_test::LeakCheck leaks;
  co::Channel<int> ch;
  std::optional<int> got;
  bool accepted = false;
  co::go([&] { got = ch.receive(); });
  co::go([&] { accepted = ch.try_send(42); });
  co::run();
  CHECK(accepted);
  REQUIRE(got.has_value());
  CHECK(*got == 42);
}

TEST_CASE("Channel: close lets receivers drain, then nullopt; senders get false") {
  cofcgi_test::LeakCheck leaks;
  co::Channel<int> ch(4);
  std::vector<int> got;
  bool blocked_send = true;
  bool send_after_close = true;
  bool got_nullopt = false;
  co::go([&] {
    for (int i = 0; i < 4; ++i) CHECK(ch.send(i));
    blocked_send = ch.send(100);  // full: parks until close
  });
  co::go([&] {
    co::sleep_for(20ms);
    ch.close();
    CHECK(ch.closed());
    send_after_close = ch.send(200);
    while (auto v = ch.receive()) got.push_back(*v);
    got_nullopt = !ch.receive().has_value();
    CHECK_FALSE(ch.try_receive().has_value());
  });
  co::run();
  CHECK_FALSE(blocked_send);
  CHECK_FALSE(send_after_close);
  CHECK(got == std::vector<int>{0, 1, 2, 3});
  CHECK(got_nullopt);
}

TEST_CASE("Channel: close wakes a parked receiver with nullopt") {
  cofcgi_test::LeakCheck leaks;
  co::Channel<int> ch(2);
  std::optional<int> got = 5;
  co::go([&] { got = ch.receive(); });
  co::go([&] {
    co::sleep_for(10ms);
    ch.close();
  });
  co::run();
  CHECK_FALSE(got.has_value());
}

TEST_CASE("Channel: unbuffered send interrupted by close drops the value") {
  cofcgi_test::LeakCheck leaks;
  co::Channel<int> ch;
  bool sent = true;
  std::optional<int> received = 1;
  bool sender_returned_first = false;
  co::go([&] { sent = ch.send(5); });  // parks: no receiver
  co::go([&] {
    co::sleep_for(10ms);
    ch.close();
    co::yield();  // the sender learns about the close first
    sender_returned_first = !sent;
    received = ch.receive();  // the sender was told false: the value must not arrive
  });
  co::run();
  CHECK(sender_returned_first);
  CHECK_FALSE(sent);
  CHECK_FALSE(received.has_value());
  CHECK(ch.size() == 0);
}

TEST_CASE("Channel<std::unique_ptr<int>>: move-only values") {
  cofcgi_test::LeakCheck leaks;
  co::Channel<std::unique_ptr<int>> buffered(2);
  co::Channel<std::unique_ptr<int>> unbuffered;
  int sum = 0;
  co::go([&] {
    for (int i = 1; i <= 5; ++i) CHECK(buffered.send(std::make_unique<int>(i)));
    buffered.close();
    CHECK(unbuffered.send(std::make_unique<int>(100)));
  });
  co::go([&] {
    while (std::optional<std::unique_ptr<int>> p = buffered.receive()) {
      REQUIRE(*p);
      sum += **p;
    }
    std::optional<std::unique_ptr<int>> q = unbuffered.receive();
    REQUIRE(q);
    REQUIRE(*q);
    sum += **q;
  });
  co::run();
  CHECK(sum == 115);
}

TEST_CASE("Channel: receive with a deadline times out on an empty open channel") {
  cofcgi_test::LeakCheck leaks;
  co::Channel<int> ch(1);
  std::optional<int> first = 1;
  std::optional<int> second;
  double waited = 0;
  co::go([&] {
    const co::Deadline start = co::now_ns();
    first = ch.receive(co::deadline_after(50ms));
    waited = seconds_since(start);
    second = ch.receive(co::deadline_after(5s));
  });
  co::go([&] {
    co::sleep_for(100ms);
    ch.send(9);
  });
  co::run();
  CHECK_FALSE(first.has_value());
  CHECK(waited >= 0.05);
  CHECK(waited < 0.5);
  CHECK_FALSE(ch.closed());
  REQUIRE(second.has_value());
  CHECK(*second == 9);
}
