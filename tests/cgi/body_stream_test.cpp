// BodyStream and BodyBudget: the bytes a body holds are counted until read, the stream's
// states, the connection's and the process's caps (a connection holding nothing may always
// read), and the whole-body wait lifting the connection's cap.
#include "body_stream.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "body_budget.h"
#include "cofcgi/cgi/request.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/wait_queue.h"
#include "leak_check.h"

using co::cgi::detail::BodyBudget;
using co::cgi::detail::BodyStream;
using State = co::cgi::detail::BodyStream::State;

TEST_CASE("body_stream: the budget counts held bytes until they are read") {
  std::atomic<std::size_t> total{0};
  BodyBudget budget(total, 1 << 20, 1 << 24);
  {
    BodyStream body(budget, 1 << 20);
    body.append("0123456789");
    body.append("");
    CHECK(body.received() == 10);
    CHECK(budget.held() == 10);
    CHECK(total == 10);
    char buf[4];
    CHECK(body.read(buf, 4) == 4);
    CHECK(std::string(buf, 4) == "0123");
    CHECK(budget.held() == 6);
    CHECK(total == 6);
    body.end();
    CHECK(body.state() == State::complete);
    CHECK(body.read(buf, 4) == 4);
    CHECK(body.read(buf, 4) == 2);
    CHECK(std::string(buf, 2) == "89");
    CHECK(body.read(buf, 4) == 0);
    CHECK(body.read(buf, 4) == 0);
    CHECK(budget.held() == 0);
    body.append("late");  // after the end: ignored
    CHECK(body.received() == 10);
    CHECK(budget.held() == 0);
  }
  SUBCASE("a stream destroyed unread gives its bytes back") {
    {
      BodyStream body(budget, 1 << 20);
      body.append("abc");
      char c;
      CHECK(body.read(&c, 1) == 1);
      CHECK(budget.held() == 2);
    }
    CHECK(budget.held() == 0);
    CHECK(total == 0);
  }
  SUBCASE("over the limit: dropped and given back") {
    BodyStream body(budget, 5);
    body.append("abc");
    CHECK(budget.held() == 3);
    body.append("def");
    CHECK(body.state() == State::over_limit);
    CHECK(budget.held() == 0);
    CHECK(total == 0);
    char buf[8];
    CHECK_THROWS_AS(body.read(buf, sizeof buf), co::cgi::BodyTooLarge);
    body.append("more");  // ignored
    CHECK(budget.held() == 0);
  }
  SUBCASE("abandoned: dropped and given back") {
    BodyStream body(budget, 1 << 20);
    body.append("abc");
    body.abandon();
    CHECK(body.state() == State::abandoned);
    CHECK(budget.held() == 0);
    char buf[8];
    CHECK_THROWS_AS(body.read(buf, sizeof buf), co::cgi::RequestAborted);
  }
  CHECK(total == 0);
}

TEST_CASE("body_stream: states") {
  std::atomic<std::size_t> total{0};
  BodyBudget budget(total, 1 << 20, 1 << 24);
  SUBCASE("complete is final but for abandoned") {
    BodyStream body(budget, 4);
    body.end();
    body.mark_over_limit();
    CHECK(body.state() == State::complete);
    body.append("too long for max_body");
    CHECK(body.state() == State::complete);
    body.abandon();
    CHECK(body.state() == State::abandoned);
    body.end();
    CHECK(body.state() == State::abandoned);
  }
  SUBCASE("over_limit is final but for abandoned") {
    BodyStream body(budget, 4);
    body.mark_over_limit();
    CHECK(body.state() == State::over_limit);
    body.end();
    CHECK(body.state() == State::over_limit);
    CHECK_FALSE(body.receiving());
    body.abandon();
    CHECK(body.state() == State::abandoned);
    body.mark_over_limit();
    CHECK(body.state() == State::abandoned);
  }
  SUBCASE("exactly max_body is fine") {
    BodyStream body(budget, 4);
    body.append("ab");
    body.append("cd");
    CHECK(body.receiving());
    body.end();
    CHECK(body.state() == State::complete);
  }
}

TEST_CASE("body_stream: a large body read in small pieces comes out whole") {
  std::atomic<std::size_t> total{0};
  BodyBudget budget(total, 1 << 24, 1 << 24);
  BodyStream body(budget, 1 << 24);
  std::string sent;
  std::string got;
  char buf[1000];
  // Interleaved: appends of 7000, reads of 1000, so the read prefix is dropped now and then.
  for (int i = 0; i < 300; ++i) {
    std::string chunk(7000, static_cast<char>('a' + i % 26));
    chunk[0] = static_cast<char>(i);
    body.append(chunk);
    sent += chunk;
    for (int k = 0; k < 5; ++k) got.append(buf, body.read(buf, sizeof buf));
  }
  body.end();
  while (const std::size_t n = body.read(buf, sizeof buf)) got.append(buf, n);
  CHECK(got.size() == sent.size());
  CHECK(got == sent);
  CHECK(budget.held() == 0);
}

TEST_CASE("body_stream: over() per connection cap") {
  std::atomic<std::size_t> total{0};
  BodyBudget budget(total, 100, 1000);
  CHECK_FALSE(budget.over());
  budget.take(99);
  CHECK_FALSE(budget.over());
  budget.take(1);
  CHECK(budget.over());
  budget.take(50);  // a read is never split: a budget may go past its cap
  CHECK(budget.over());
  budget.release(51);
  CHECK_FALSE(budget.over());
  budget.release(99);
  CHECK(budget.held() == 0);
  CHECK(total == 0);
}

TEST_CASE("body_stream: over() process cap, and a connection holding nothing may read") {
  std::atomic<std::size_t> total{0};
  BodyBudget a(total, 1000, 150);
  BodyBudget b(total, 1000, 150);
  a.take(149);
  CHECK_FALSE(a.over());
  CHECK_FALSE(b.over());
  a.take(1);
  CHECK(total == 150);
  CHECK(a.over());        // the process is full and a holds some of it
  CHECK_FALSE(b.over());  // b holds nothing: it may still read
  b.take(1);
  CHECK(b.over());
  a.release(10);
  CHECK_FALSE(a.over());
  CHECK_FALSE(b.over());
  {
    // Someone else's bytes count against the process too.
    total += 1000;
    CHECK(b.over());
    total -= 1000;
  }
  a.release(140);
  b.release(1);
  CHECK(total == 0);

  SUBCASE("a budget gives back what it holds when destroyed") {
    {
      BodyBudget c(total, 1000, 150);
      c.take(42);
      CHECK(total == 42);
    }
    CHECK(total == 0);
  }
}

TEST_CASE(
    "body_stream: lifted bytes do not count in the connection cap, and do in the process cap") {
  std::atomic<std::size_t> total{0};
  BodyBudget budget(total, 100, 1000);
  budget.take(100);
  CHECK(budget.over());
  budget.lift(60);  // a request waiting for its whole body holds 60 of them
  CHECK_FALSE(budget.over());
  budget.take(59);
  CHECK_FALSE(budget.over());
  budget.take(1);  // the others' bytes reach the cap again
  CHECK(budget.over());
  budget.release(60);
  CHECK_FALSE(budget.over());
  budget.take(900);
  CHECK(budget.over());  // the process's cap still holds
  budget.release(900);
  budget.unlift(60);
  CHECK(budget.over());
  budget.release(100);
  CHECK_FALSE(budget.over());
}

TEST_CASE("body_stream: wait_until_received lifts the cap while it waits") {
  cofcgi_test::LeakCheck leaks;
  std::atomic<std::size_t> total{0};
  BodyBudget budget(total, 10, 1000);
  BodyStream body(budget, 1000);
  std::vector<std::string> log;
  co::go([&] {
    log.push_back("wait");
    body.wait_until_received();
    log.push_back("received");
    CHECK(budget.over());  // the wait is over: the cap is back
    std::string all;
    char buf[64];
    while (const std::size_t n = body.read(buf, sizeof buf)) all.append(buf, n);
    CHECK(all == std::string(50, 'x'));
    CHECK_FALSE(budget.over());
    body.wait_until_received();  // over already: no wait
    log.push_back("again");
  });
  co::go([&] {
    // The "reader" of the connection: appends while the budget lets it.
    for (int i = 0; i < 5; ++i) {
      CHECK_FALSE(budget.over());
      body.append(std::string(10, 'x'));
      co::yield();
    }
    log.push_back("end");
    body.end();
  });
  co::run();
  const std::vector<std::string> expected = {"wait", "end", "received", "again"};
  CHECK(log == expected);
  CHECK(budget.held() == 0);
}

TEST_CASE("body_stream: wait_for_room wakes on release and on a whole-body wait") {
  cofcgi_test::LeakCheck leaks;
  std::atomic<std::size_t> total{0};
  BodyBudget budget(total, 10, 1000);
  BodyStream body(budget, 1000);
  body.append(std::string(10, 'x'));
  REQUIRE(budget.over());
  std::vector<std::string> log;
  SUBCASE("release by a read") {
    co::go([&] {
      while (budget.over()) {
        CHECK(budget.wait_for_room(co::kNoDeadline));
        log.push_back("woke");
      }
      log.push_back("room");
    });
    co::go([&] {
      char buf[4];
      CHECK(body.read(buf, sizeof buf) == 4);
      log.push_back("read");
    });
    co::run();
    const std::vector<std::string> expected = {"read", "woke", "room"};
    CHECK(log == expected);
  }
  SUBCASE("a handler starts waiting for its whole body") {
    co::go([&] {
      CHECK(budget.wait_for_room(co::kNoDeadline));
      CHECK_FALSE(budget.over());
      body.end();
    });
    co::go([&] { body.wait_until_received(); });
    co::run();
    CHECK(budget.over());
  }
  SUBCASE("the deadline") {
    co::go([&] {
      const co::Deadline start = co::now_ns();
      CHECK_FALSE(budget.wait_for_room(co::deadline_after(std::chrono::milliseconds(20))));
      CHECK(co::now_ns() - start >= 15'000'000);
    });
    co::run();
  }
  SUBCASE("wake") {
    co::go([&] {
      CHECK(budget.wait_for_room(co::kNoDeadline));
      log.push_back("woke");
    });
    co::go([&] {
      log.push_back("wake");
      budget.wake();
    });
    co::run();
    const std::vector<std::string> expected = {"wake", "woke"};
    CHECK(log == expected);
  }
}

TEST_CASE("body_stream: a reader parked on an empty stream wakes at the end") {
  cofcgi_test::LeakCheck leaks;
  std::atomic<std::size_t> total{0};
  BodyBudget budget(total, 1 << 20, 1 << 20);
  BodyStream body(budget, 100);
  std::size_t got = 99;
  co::go([&] {
    char buf[8];
    got = body.read(buf, sizeof buf);
  });
  co::go([&] { body.end(); });
  co::run();
  CHECK(got == 0);
}
