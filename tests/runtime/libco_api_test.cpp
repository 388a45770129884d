// libco's C API (co_routine.h, co_routine_specific.h, co_closure.h) over the cofcgi
// scheduler: creation, resume/yield, co_self, nesting, co_poll, condition variables, the event
// loop, co_reset, stack-size attributes, hook flags and coroutine-specific data.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "co_closure.h"
#include "co_routine.h"
#include "co_routine_specific.h"
#include "cofcgi/runtime.h"
#include "coroutine.h"  // white box: the control block behind stCoRoutine_t, for stack sizes
#include "leak_check.h"

namespace {

using Clock = std::chrono::steady_clock;

long elapsed_ms(Clock::time_point since) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

// Redirects fd 2 into a pipe until finish(), which returns what was written. Non-blocking so
// a chatty test cannot wedge itself on a full pipe.
class StderrCapture {
 public:
  StderrCapture() {
    REQUIRE(pipe2(fds_, O_CLOEXEC | O_NONBLOCK) == 0);
    saved_ = dup(2);
    REQUIRE(saved_ >= 0);
    REQUIRE(dup2(fds_[1], 2) == 2);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture() { (void)finish(); }
  std::string finish() {
    if (saved_ < 0) return text_;
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
    close(fds_[1]);
    char buf[4096];
    for (;;) {
      const ssize_t n = read(fds_[0], buf, sizeof buf);
      if (n <= 0) break;
      text_.append(buf, static_cast<std::size_t>(n));
    }
    close(fds_[0]);
    return text_;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
  std::string text_;
};

co::detail::Coroutine* internals(stCoRoutine_t* co) {
  return reinterpret_cast<co::detail::Coroutine*>(co);
}

// ---------------------------------------------------------------------------------------

struct PingPong {
  int in = 0;
  int out = 0;
  int steps = 0;
  bool finished = false;
};

void* ping_pong_routine(void* arg) {
  auto* p = static_cast<PingPong*>(arg);
  while (p->in >= 0) {
    p->out = p->in * 2 + 1;
    ++p->steps;
    co_yield_ct();
  }
  p->finished = true;
  return nullptr;
}

}  // namespace

TEST_CASE("libco: co_create/co_resume/co_yield_ct ping-pong passes values through the arg struct") {
  cofcgi_test::LeakCheck leaks;
  PingPong p;
  stCoRoutine_t* co = nullptr;
  REQUIRE(co_create(&co, nullptr, ping_pong_routine, &p) == 0);
  REQUIRE(co != nullptr);
  CHECK(co::stats().live_coroutines >= 1);
  CHECK(p.steps == 0);  // created, not started
  for (int i = 0; i < 100; ++i) {
    p.in = i;
    co_resume(co);
    CHECK(p.out == 2 * i + 1);
    CHECK(p.steps == i + 1);
    CHECK_FALSE(p.finished);
  }
  p.in = -1;
  co_resume(co);
  CHECK(p.finished);
  CHECK(p.steps == 100);
  co_release(co);
}

TEST_CASE("libco: co_self is the running coroutine inside and the thread's main routine outside") {
  cofcgi_test::LeakCheck leaks;
  struct Seen {
    stCoRoutine_t* self_inside = nullptr;
    stCoRoutine_t* current_inside = nullptr;
    stCoRoutine_t* self_after_yield = nullptr;
  } seen;
  stCoRoutine_t* main_self = co_self();
  REQUIRE(main_self != nullptr);
  CHECK(co_self() == main_self);
  CHECK(co_get_current() == main_self);
  stCoRoutine_t* co = nullptr;
  REQUIRE(co_create(
              &co, nullptr,
              +[](void* arg) -> void* {
                auto* s = static_cast<Seen*>(arg);
                s->self_inside = co_self();
                s->current_inside = co_get_current();
                co_yield_ct();
                s->self_after_yield = co_self();
                return nullptr;
              },
              &seen) == 0);
  co_resume(co);
  CHECK(seen.self_inside == co);
  CHECK(seen.current_inside == co);
  CHECK(co_self() == main_self);
  co_resume(co);
  CHECK(seen.self_after_yield == co);
  CHECK(co_self() == main_self);
  CHECK(co != main_self);
  co_release(co);
}

TEST_CASE("libco: resuming a finished coroutine logs an error and has no effect") {
  cofcgi_test::LeakCheck leaks;
  static int runs;
  runs = 0;
  stCoRoutine_t* co = nullptr;
  REQUIRE(co_create(
              &co, nullptr,
              +[](void*) -> void* {
                ++runs;
                return nullptr;
              },
              nullptr) == 0);
  co_resume(co);
  CHECK(runs == 1);
  std::string err;
  {
    StderrCapture capture;
    co_resume(co);
    co_resume(co);
    err = capture.finish();
  }
  CHECK(runs == 1);
  CHECK(err.find("resume of finished coroutine #") != std::string::npos);
  CHECK(co_self() != co);  // still on the main stack
  co_release(co);
}

TEST_CASE("libco: a coroutine resuming itself is refused, not a crash") {
  cofcgi_test::LeakCheck leaks;
  static int after;
  after = 0;
  std::string err;
  stCoRoutine_t* co = nullptr;
  REQUIRE(co_create(
              &co, nullptr,
              +[](void*) -> void* {
                co_resume(co_self());
                ++after;
                return nullptr;
              },
              nullptr) == 0);
  {
    StderrCapture capture;
    co_resume(co);
    err = capture.finish();
  }
  CHECK(after == 1);
  CHECK(err.find("already running") != std::string::npos);
  co_release(co);
}

namespace {

constexpr int kChainDepth = 1000;
std::vector<stCoRoutine_t*> g_chain;
std::vector<int> g_unwound;
int g_chain_self_errors = 0;
std::size_t g_live_at_leaf = 0;

void* chain_routine(void* arg) {
  const int depth = static_cast<int>(reinterpret_cast<std::intptr_t>(arg));
  if (co_self() != g_chain[depth]) ++g_chain_self_errors;
  if (depth + 1 < kChainDepth) {
    if (co_create(&g_chain[depth + 1], nullptr, chain_routine,
                  reinterpret_cast<void*>(static_cast<std::intptr_t>(depth + 1))) != 0) {
      ++g_chain_self_errors;
      return nullptr;
    }
    co_resume(g_chain[depth + 1]);
    if (co_self() != g_chain[depth]) ++g_chain_self_errors;  // back on our own coroutine
    co_release(g_chain[depth + 1]);
  } else {
    g_live_at_leaf = co::stats().live_coroutines;
  }
  g_unwound.push_back(depth);
  return nullptr;
}

}  // namespace

TEST_CASE("libco: nested co_resume 1000 deep unwinds innermost first") {
  cofcgi_test::LeakCheck leaks;
  const std::size_t live_before = co::stats().live_coroutines;
  g_chain.assign(kChainDepth, nullptr);
  g_unwound.clear();
  g_chain_self_errors = 0;
  REQUIRE(co_create(&g_chain[0], nullptr, chain_routine, nullptr) == 0);
  co_resume(g_chain[0]);
  CHECK(g_chain_self_errors == 0);
  CHECK(g_live_at_leaf == live_before + kChainDepth);
  REQUIRE(g_unwound.size() == static_cast<std::size_t>(kChainDepth));
  bool in_order = true;
  for (int i = 0; i < kChainDepth; ++i) in_order = in_order && g_unwound[i] == kChainDepth - 1 - i;
  CHECK(in_order);
  CHECK(co_self() != g_chain[0]);
  co_release(g_chain[0]);
}

namespace {

struct PollZero {
  int rfd = -1;
  int wfd = -1;
  int empty_rc = -2;
  int ready_rc = -2;
  short ready_revents = 0;
  int nval_rc = -2;
  short nval_revents = 0;
  bool finished = false;
};

}  // namespace

TEST_CASE("libco: co_poll with timeout 0 in a coroutine and co_poll outside one behave like poll") {
  cofcgi_test::LeakCheck leaks;
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);

  SUBCASE("from the main stack it is the real poll") {
    pollfd pf{p[0], POLLIN, 0};
    CHECK(co_poll(co_get_epoll_ct(), &pf, 1, 0) == 0);
    CHECK(pf.revents == 0);
    const auto start = Clock::now();
    CHECK(co_poll(co_get_epoll_ct(), &pf, 1, 30) == 0);  // blocks the thread like poll
    CHECK(elapsed_ms(start) >= 25);
    REQUIRE(write(p[1], "x", 1) == 1);
    CHECK(co_poll(co_get_epoll_ct(), &pf, 1, 0) == 1);
    CHECK((pf.revents & POLLIN) != 0);
    pollfd bad{-1, POLLIN, 0};
    CHECK(co_poll(co_get_epoll_ct(), &bad, 1, 0) == 0);  // negative fds are ignored
  }

  SUBCASE("inside a coroutine timeout 0 never parks") {
    PollZero st;
    st.rfd = p[0];
    st.wfd = p[1];
    stCoRoutine_t* co = nullptr;
    REQUIRE(co_create(
                &co, nullptr,
                +[](void* arg) -> void* {
                  auto* s = static_cast<PollZero*>(arg);
                  pollfd pf{s->rfd, POLLIN, 0};
                  s->empty_rc = co_poll(co_get_epoll_ct(), &pf, 1, 0);
                  (void)write(s->wfd, "y", 1);
                  pf.revents = 0;
                  s->ready_rc = co_poll(co_get_epoll_ct(), &pf, 1, 0);
                  s->ready_revents = pf.revents;
                  // A closed fd number: poll reports POLLNVAL at once, even with a long timeout.
                  pollfd nval{INT_MAX - 7, POLLIN, 0};
                  s->nval_rc = co_poll(co_get_epoll_ct(), &nval, 1, 5000);
                  s->nval_revents = nval.revents;
                  s->finished = true;
                  return nullptr;
                },
                &st) == 0);
    const auto start = Clock::now();
    co_resume(co);  // one resume: nothing in it may park
    CHECK(st.finished);
    CHECK(elapsed_ms(start) < 2000);
    CHECK(st.empty_rc == 0);
    CHECK(st.ready_rc == 1);
    CHECK((st.ready_revents & POLLIN) != 0);
    CHECK(st.nval_rc == 1);
    CHECK((st.nval_revents & POLLNVAL) != 0);
    co_release(co);
  }

  co::fd_closing(p[0]);
  co::fd_closing(p[1]);
  close(p[0]);
  close(p[1]);
}

namespace {

struct PipeWake {
  int rfd = -1;
  int wfd = -1;
  stCoCond_t* delay = nullptr;
  int poll_rc = -2;
  short revents = 0;
  char got = 0;
  bool reader_done = false;
  bool writer_done = false;
  int timeout_rc = -2;
  long timeout_elapsed_ms = -1;
};

}  // namespace

TEST_CASE("libco: co_poll on a pipe parks the coroutine until another coroutine writes") {
  cofcgi_test::LeakCheck leaks;
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
  PipeWake st;
  st.rfd = p[0];
  st.wfd = p[1];
  st.delay = co_cond_alloc();
  REQUIRE(st.delay != nullptr);

  stCoRoutine_t* reader = nullptr;
  stCoRoutine_t* writer = nullptr;
  REQUIRE(co_create(
              &reader, nullptr,
              +[](void* arg) -> void* {
                auto* s = static_cast<PipeWake*>(arg);
                pollfd pf{s->rfd, POLLIN, 0};
                s->poll_rc = co_poll(co_get_epoll_ct(), &pf, 1, 10000);
                s->revents = pf.revents;
                if (read(s->rfd, &s->got, 1) != 1) s->got = '?';
                // Nothing more to read: a short timeout must expire and return 0.
                const auto start = Clock::now();
                pf.revents = 0;
                s->timeout_rc = co_poll(co_get_epoll_ct(), &pf, 1, 30);
                s->timeout_elapsed_ms = elapsed_ms(start);
                s->reader_done = true;
                return nullptr;
              },
              &st) == 0);
  REQUIRE(co_create(
              &writer, nullptr,
              +[](void* arg) -> void* {
                auto* s = static_cast<PipeWake*>(arg);
                (void)co_cond_timedwait(s->delay, 20);  // let the loop run (and block) first
                if (write(s->wfd, "z", 1) == 1) s->writer_done = true;
                return nullptr;
              },
              &st) == 0);

  co_resume(reader);
  CHECK_FALSE(st.reader_done);  // parked in co_poll
  co_resume(writer);
  CHECK_FALSE(st.writer_done);  // parked in the timed wait

  const auto start = Clock::now();
  co_eventloop(
      co_get_epoll_ct(),
      +[](void* arg) -> int { return static_cast<PipeWake*>(arg)->reader_done ? -1 : 0; }, &st);
  CHECK(elapsed_ms(start) < 5000);
  CHECK(st.writer_done);
  CHECK(st.reader_done);
  CHECK(st.poll_rc == 1);
  CHECK((st.revents & POLLIN) != 0);
  CHECK(st.got == 'z');
  CHECK(st.timeout_rc == 0);
  CHECK(st.timeout_elapsed_ms >= 29);

  co_release(reader);
  co_release(writer);
  co_cond_free(st.delay);
  co::fd_closing(p[0]);
  co::fd_closing(p[1]);
  close(p[0]);
  close(p[1]);
}

namespace {

struct CondOrder {
  stCoCond_t* cond = nullptr;
  stCoCond_t* never = nullptr;
  int iterations = 0;  // pfn calls so far
  int waiter_rc = -2;
  int waiter_ran_at = -1;
  int signalled_at = -1;
  std::vector<std::string> order;
  bool timer_done = false;
};

int count_iterations(void* arg) {
  auto* s = static_cast<CondOrder*>(arg);
  ++s->iterations;
  return s->timer_done ? -1 : 0;
}

void* cond_waiter(void* arg) {
  auto* s = static_cast<CondOrder*>(arg);
  s->waiter_rc = co_cond_timedwait(s->cond, -1);
  s->waiter_ran_at = s->iterations;
  s->order.push_back("waiter");
  return nullptr;
}

void* cond_timer(void* arg) {
  auto* s = static_cast<CondOrder*>(arg);
  (void)co_cond_timedwait(s->never, 50);
  s->order.push_back("timer");
  s->timer_done = true;
  return nullptr;
}

}  // namespace

TEST_CASE("libco: co_cond_signal wakes the waiter promptly, before a 50 ms timer") {
  cofcgi_test::LeakCheck leaks;
  CondOrder st;
  st.cond = co_cond_alloc();
  st.never = co_cond_alloc();
  stCoRoutine_t* waiter = nullptr;
  stCoRoutine_t* timer = nullptr;
  stCoRoutine_t* signaller = nullptr;
  REQUIRE(co_create(&waiter, nullptr, cond_waiter, &st) == 0);
  REQUIRE(co_create(&timer, nullptr, cond_timer, &st) == 0);

  SUBCASE("signal then yield from a coroutine started before the loop") {
    REQUIRE(co_create(
                &signaller, nullptr,
                +[](void* arg) -> void* {
                  auto* s = static_cast<CondOrder*>(arg);
                  co_cond_signal(s->cond);
                  s->signalled_at = s->iterations;
                  s->order.push_back("signalled");
                  co_yield_ct();  // suspended for good: libco's co_yield is resumed only explicitly
                  return nullptr;
                },
                &st) == 0);
    co_resume(waiter);
    co_resume(timer);
    co_resume(signaller);
    co_eventloop(co_get_epoll_ct(), count_iterations, &st);
    // The waiter ran in the loop's first pass, before pfn was ever called.
    CHECK(st.waiter_ran_at == 0);
  }

  SUBCASE("signal from a coroutine the loop woke") {
    REQUIRE(co_create(
                &signaller, nullptr,
                +[](void* arg) -> void* {
                  auto* s = static_cast<CondOrder*>(arg);
                  (void)co_cond_timedwait(s->never, 5);
                  co_cond_signal(s->cond);
                  s->signalled_at = s->iterations;
                  s->order.push_back("signalled");
                  co_yield_ct();
                  return nullptr;
                },
                &st) == 0);
    co_resume(waiter);
    co_resume(timer);
    co_resume(signaller);
    co_eventloop(co_get_epoll_ct(), count_iterations, &st);
    // Woken during one pass, it runs in the next one, without the loop blocking between.
    CHECK(st.signalled_at >= 0);
    CHECK(st.waiter_ran_at - st.signalled_at <= 1);
  }

  CHECK(st.waiter_rc == 0);
  REQUIRE(st.order.size() == 3);
  CHECK(st.order[0] == "signalled");
  CHECK(st.order[1] == "waiter");
  CHECK(st.order[2] == "timer");
  co_release(waiter);
  co_release(timer);
  co_release(signaller);  // suspended in co_yield_ct: releasing it is fine
  co_cond_free(st.cond);
  co_cond_free(st.never);
}

namespace {

struct TimedWait {
  stCoCond_t* cond = nullptr;
  int rc = -2;
  int err = 0;
  long waited_ms = -1;
  bool done = false;
};

void* timed_waiter(void* arg) {
  auto* s = static_cast<TimedWait*>(arg);
  const auto start = Clock::now();
  errno = 0;
  s->rc = co_cond_timedwait(s->cond, s->rc == -3 ? 5000 : 40);
  s->err = errno;
  s->waited_ms = elapsed_ms(start);
  s->done = true;
  return nullptr;
}

int stop_when_done(void* arg) { return static_cast<TimedWait*>(arg)->done ? -1 : 0; }

}  // namespace

TEST_CASE("libco: co_cond_timedwait returns -1/ETIMEDOUT on timeout and 0 when signalled") {
  cofcgi_test::LeakCheck leaks;
  TimedWait st;
  st.cond = co_cond_alloc();
  stCoRoutine_t* co = nullptr;

  SUBCASE("timeout") {
    REQUIRE(co_create(&co, nullptr, timed_waiter, &st) == 0);
    co_resume(co);
    CHECK(co::stats().pending_timers >= 1);
    co_eventloop(co_get_epoll_ct(), stop_when_done, &st);
    CHECK(st.rc == -1);
    CHECK(st.err == ETIMEDOUT);
    CHECK(st.waited_ms >= 39);
    CHECK(st.waited_ms < 3000);
  }

  SUBCASE("signalled long before the timeout") {
    st.rc = -3;  // asks timed_waiter for a 5 s timeout
    REQUIRE(co_create(&co, nullptr, timed_waiter, &st) == 0);
    co_resume(co);
    CHECK_FALSE(st.done);
    CHECK(co_cond_signal(st.cond) == 0);  // from the main stack
    co_eventloop(co_get_epoll_ct(), stop_when_done, &st);
    CHECK(st.rc == 0);
    CHECK(st.waited_ms < 2000);
  }

  SUBCASE("outside a coroutine it is an error, not a hang") {
    StderrCapture capture;
    errno = 0;
    CHECK(co_cond_timedwait(st.cond, 10) == -1);
    CHECK(errno == EPERM);
    CHECK(capture.finish().find("outside a coroutine") != std::string::npos);
    st.done = true;
  }

  CHECK(st.done);
  if (co != nullptr) co_release(co);
  co_cond_free(st.cond);
}

TEST_CASE("libco: co_cond_broadcast wakes every waiter, co_cond_signal only one") {
  cofcgi_test::LeakCheck leaks;
  struct Shared {
    stCoCond_t* cond;
    int woken = 0;
  } st{co_cond_alloc()};
  std::vector<stCoRoutine_t*> cos(5, nullptr);
  for (auto& c : cos) {
    REQUIRE(co_create(
                &c, nullptr,
                +[](void* arg) -> void* {
                  auto* s = static_cast<Shared*>(arg);
                  if (co_cond_timedwait(s->cond, -1) == 0) ++s->woken;
                  return nullptr;
                },
                &st) == 0);
    co_resume(c);
  }
  co_cond_signal(st.cond);
  co::yield();  // outside a coroutine: runs the ready ones once
  CHECK(st.woken == 1);
  co_cond_broadcast(st.cond);
  co::yield();
  CHECK(st.woken == 5);
  for (auto* c : cos) co_release(c);
  co_cond_free(st.cond);
}

TEST_CASE("libco: co_eventloop returns when pfn returns -1, not for other values") {
  cofcgi_test::LeakCheck leaks;
  struct Loop {
    stCoCond_t* tick;
    int calls = 0;
    int wakes = 0;
  } st{co_cond_alloc()};
  stCoRoutine_t* ticker = nullptr;
  // A coroutine that never ends: only pfn can end the loop.
  REQUIRE(co_create(
              &ticker, nullptr,
              +[](void* arg) -> void* {
                auto* s = static_cast<Loop*>(arg);
                for (;;) {
                  (void)co_cond_timedwait(s->tick, 5);
                  ++s->wakes;
                }
                return nullptr;
              },
              &st) == 0);
  co_resume(ticker);
  co_eventloop(
      co_get_epoll_ct(),
      +[](void* arg) -> int {
        auto* s = static_cast<Loop*>(arg);
        ++s->calls;
        if (s->calls < 5) return s->calls % 2;  // 0 and 1 keep the loop going
        return -1;
      },
      &st);
  CHECK(st.calls == 5);
  CHECK(st.wakes >= 3);
  co_release(ticker);  // parked with a timer: released cleanly (LeakCheck: no timer left)
  co_cond_free(st.tick);
}

namespace {

struct ResetCounts {
  int starts = 0;
  int second_halves = 0;
  std::string reset_self_err;
};

void* reset_routine(void* arg) {
  auto* c = static_cast<ResetCounts*>(arg);
  ++c->starts;
  co_yield_ct();
  ++c->second_halves;
  return nullptr;
}

}  // namespace

TEST_CASE("libco: co_reset lets a suspended or finished coroutine run again from the start") {
  cofcgi_test::LeakCheck leaks;
  ResetCounts c;
  stCoRoutine_t* co = nullptr;
  REQUIRE(co_create(&co, nullptr, reset_routine, &c) == 0);
  co_resume(co);
  CHECK(c.starts == 1);
  co_reset(co);  // suspended mid-way
  co_resume(co);
  CHECK(c.starts == 2);
  CHECK(c.second_halves == 0);
  co_resume(co);  // finishes
  CHECK(c.second_halves == 1);
  co_reset(co);  // finished
  co_resume(co);
  CHECK(c.starts == 3);
  co_resume(co);
  CHECK(c.second_halves == 2);
  co_release(co);
}

TEST_CASE("libco: co_reset of the running coroutine is refused") {
  cofcgi_test::LeakCheck leaks;
  static int resumed_after;
  resumed_after = 0;
  stCoRoutine_t* co = nullptr;
  std::string err;
  REQUIRE(co_create(
              &co, nullptr,
              +[](void*) -> void* {
                co_reset(co_self());
                ++resumed_after;
                return nullptr;
              },
              nullptr) == 0);
  {
    StderrCapture capture;
    co_resume(co);
    err = capture.finish();
  }
  CHECK(resumed_after == 1);
  CHECK(err.find("co_reset of running coroutine") != std::string::npos);
  co_release(co);
}

TEST_CASE(
    "libco: co_create stack sizes: <= 0 is the default, small ones are raised, INT_MAX is EINVAL") {
  cofcgi_test::LeakCheck leaks;
  const auto noop = +[](void*) -> void* { return nullptr; };
  struct Case {
    int requested;
    std::size_t expected_usable;
  };
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const Case cases[] = {
      {0, co::kDefaultStackSize},
      {-1, co::kDefaultStackSize},
      {INT_MIN, co::kDefaultStackSize},
      {1, co::kMinStackSize},
      {100001, (100001 + page - 1) / page * page},
      {256 * 1024, 256 * 1024},
  };
  for (const Case& c : cases) {
    CAPTURE(c.requested);
    stCoRoutineAttr_t attr;
    attr.stack_size = c.requested;
    stCoRoutine_t* co = nullptr;
    const std::size_t in_use = co::stats().stacks_in_use;
    REQUIRE(co_create(&co, &attr, noop, nullptr) == 0);
    CHECK(internals(co)->stack.usable_size() == c.expected_usable);
    CHECK(co::stats().stacks_in_use == in_use + 1);
    co_resume(co);
    co_release(co);
  }

  SUBCASE("a NULL attr is the default") {
    stCoRoutine_t* co = nullptr;
    REQUIRE(co_create(&co, nullptr, noop, nullptr) == 0);
    CHECK(internals(co)->stack.usable_size() == co::kDefaultStackSize);
    co_release(co);
  }

  SUBCASE("INT_MAX (~2 GiB, over the 1 GiB maximum) fails with EINVAL") {
    stCoRoutineAttr_t attr;
    attr.stack_size = INT_MAX;
    stCoRoutine_t* co = nullptr;
    const co::Stats before = co::stats();
    std::string err;
    int rc = 0;
    int saved_errno = 0;
    {
      StderrCapture capture;
      errno = 0;
      rc = co_create(&co, &attr, noop, nullptr);
      saved_errno = errno;
      err = capture.finish();
    }
    CHECK(rc == -1);
    CHECK(saved_errno == EINVAL);
    CHECK(co == nullptr);
    CHECK(co::stats().live_coroutines == before.live_coroutines);
    CHECK(err.find("outside") != std::string::npos);
  }

  SUBCASE("NULL out or routine fail with EINVAL") {
    stCoRoutine_t* co = nullptr;
    StderrCapture capture;
    errno = 0;
    CHECK(co_create(nullptr, nullptr, noop, nullptr) == -1);
    CHECK(errno == EINVAL);
    errno = 0;
    CHECK(co_create(&co, nullptr, nullptr, nullptr) == -1);
    CHECK(errno == EINVAL);
    CHECK(co == nullptr);
  }
}

TEST_CASE("libco: co_enable_hook_sys is a per-coroutine flag") {
  cofcgi_test::LeakCheck leaks;
  struct Flags {
    bool a_initial = true, a_enabled = false, a_after_yield = false, a_disabled = true;
    bool b_initial = true;
    bool go_default = false;
  } f;
  const bool main_before = co_is_enable_sys_hook();
  stCoRoutine_t* a = nullptr;
  stCoRoutine_t* b = nullptr;
  REQUIRE(co_create(
              &a, nullptr,
              +[](void* arg) -> void* {
                auto* s = static_cast<Flags*>(arg);
                s->a_initial = co_is_enable_sys_hook();
                co_enable_hook_sys();
                s->a_enabled = co_is_enable_sys_hook();
                co_yield_ct();
                s->a_after_yield = co_is_enable_sys_hook();
                co_disable_hook_sys();
                s->a_disabled = co_is_enable_sys_hook();
                return nullptr;
              },
              &f) == 0);
  REQUIRE(co_create(
              &b, nullptr,
              +[](void* arg) -> void* {
                static_cast<Flags*>(arg)->b_initial = co_is_enable_sys_hook();
                return nullptr;
              },
              &f) == 0);
  co_resume(a);
  CHECK(co_is_enable_sys_hook() == main_before);  // A's flag is not the main stack's
  co_resume(b);
  co_resume(a);
  CHECK_FALSE(f.a_initial);  // libco: off until co_enable_hook_sys
  CHECK(f.a_enabled);
  CHECK(f.a_after_yield);
  CHECK_FALSE(f.a_disabled);
  CHECK_FALSE(f.b_initial);
  CHECK(co_is_enable_sys_hook() == main_before);
  co::go([&f] { f.go_default = co_is_enable_sys_hook(); });
  co::run();
  CHECK(f.go_default);  // the C++ API's coroutines use the hooks by default
  co_release(a);
  co_release(b);
}

namespace {

struct SpecificState {
  pthread_key_t key;
  int values[2] = {0, 0};
  void* initial[2] = {nullptr, nullptr};
  void* after_yield[2] = {nullptr, nullptr};
  void* pthread_view[2] = {nullptr, nullptr};
};
struct SpecificArg {
  SpecificState* st;
  int index;
};

void* specific_routine(void* arg) {
  auto* a = static_cast<SpecificArg*>(arg);
  SpecificState* s = a->st;
  s->initial[a->index] = co_getspecific(s->key);
  CHECK(co_setspecific(s->key, &s->values[a->index]) == 0);
  co_yield_ct();
  s->after_yield[a->index] = co_getspecific(s->key);
  s->pthread_view[a->index] = pthread_getspecific(s->key);
  return nullptr;
}

}  // namespace

TEST_CASE(
    "libco: co_setspecific/co_getspecific are per coroutine, pthread-specific on the main stack") {
  cofcgi_test::LeakCheck leaks;
  SpecificState st;
  REQUIRE(pthread_key_create(&st.key, nullptr) == 0);
  int main_value = 0;
  REQUIRE(co_setspecific(st.key, &main_value) == 0);
  CHECK(pthread_getspecific(st.key) == &main_value);  // the main stack's is pthread's
  CHECK(co_getspecific(st.key) == &main_value);

  SpecificArg args[2] = {{&st, 0}, {&st, 1}};
  stCoRoutine_t* cos[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) REQUIRE(co_create(&cos[i], nullptr, specific_routine, &args[i]) == 0);
  co_resume(cos[0]);
  co_resume(cos[1]);
  CHECK(co_getspecific(st.key) == &main_value);
  co_resume(cos[0]);
  co_resume(cos[1]);
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(st.initial[i] == nullptr);  // a coroutine starts with its own, empty value
    CHECK(st.after_yield[i] == &st.values[i]);
    CHECK(st.pthread_view[i] == &main_value);  // the thread's value is untouched
  }
  CHECK(co_getspecific(st.key) == &main_value);
  for (auto* c : cos) co_release(c);
  pthread_setspecific(st.key, nullptr);
  pthread_key_delete(st.key);
}

namespace {

struct RoutineData {
  int value;
  long zeros[6];
  char name[16];
};
CO_ROUTINE_SPECIFIC(RoutineData, g_routine_data);

struct SpecificMacroState {
  int errors = 0;
  std::vector<RoutineData*> addresses;
};

void* routine_data_user(void* arg) {
  auto* s = static_cast<SpecificMacroState*>(arg);
  const int me = static_cast<int>(s->addresses.size()) + 1;
  RoutineData* d = g_routine_data.operator->();
  if (d == nullptr) {
    ++s->errors;
    return nullptr;
  }
  s->addresses.push_back(d);
  if (d->value != 0 || d->name[0] != 0) ++s->errors;
  for (long z : d->zeros) {
    if (z != 0) ++s->errors;
  }
  g_routine_data->value = me * 100;
  g_routine_data->zeros[5] = me;
  co_yield_ct();
  if (g_routine_data->value != me * 100 || g_routine_data->zeros[5] != me) ++s->errors;
  if (g_routine_data.operator->() != d) ++s->errors;  // same object on every access
  return nullptr;
}

}  // namespace

TEST_CASE("libco: CO_ROUTINE_SPECIFIC gives each coroutine its own zeroed struct") {
  cofcgi_test::LeakCheck leaks;
  SpecificMacroState st;
  constexpr int kCount = 8;
  std::vector<stCoRoutine_t*> cos(kCount, nullptr);
  for (auto& c : cos) REQUIRE(co_create(&c, nullptr, routine_data_user, &st) == 0);
  for (auto* c : cos) co_resume(c);  // all set their values, then yield
  for (auto* c : cos) co_resume(c);  // all check them
  CHECK(st.errors == 0);
  REQUIRE(st.addresses.size() == static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    for (int j = i + 1; j < kCount; ++j) CHECK(st.addresses[i] != st.addresses[j]);
  }
  for (auto* c : cos) co_release(c);
}

namespace {

void* run_closure(void* arg) {
  auto* c = static_cast<stCoClosure_t*>(arg);
  c->exec();
  delete c;
  return nullptr;
}

}  // namespace

TEST_CASE("libco: co_closure co_ref captures references, co_func copies, and runs as a routine") {
  cofcgi_test::LeakCheck leaks;
  int total = 0;
  std::vector<int> seen;
  co_ref(ref, total, seen);
  CHECK(ref._member_cnt == 2);
  std::vector<stCoRoutine_t*> cos;
  for (int i = 1; i <= 3; ++i) {
    co_func(add_task, ref, i) {
      ref.total += i;
      ref.seen.push_back(i);
      co_yield_ct();
      ref.total += 10 * i;  // i is this closure's own copy
    }
    co_func_end;
    auto* task = new add_task(ref, i);
    CHECK(task->_member_cnt == 2);
    stCoRoutine_t* co = nullptr;
    REQUIRE(co_create(&co, nullptr, run_closure, static_cast<stCoClosure_t*>(task)) == 0);
    co_resume(co);
    cos.push_back(co);
  }
  CHECK(total == 1 + 2 + 3);
  CHECK(seen == std::vector<int>{1, 2, 3});
  for (auto* co : cos) co_resume(co);
  CHECK(total == 66);
  for (auto* co : cos) co_release(co);
}
