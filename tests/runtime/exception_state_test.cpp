// The C++ exception globals (caught-exception chain, uncaught count) are per coroutine, and an
// exception escaping a coroutine ends only that coroutine.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "co_routine.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"

namespace {

// Redirects fd 2 into a pipe until finish(), which returns what was written.
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

std::string what_of(const std::exception_ptr& p) {
  if (!p) return "<none>";
  try {
    std::rethrow_exception(p);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "<not a std::exception>";
  }
}

}  // namespace

TEST_CASE(
    "exceptions: a coroutine yielding inside a catch block can still rethrow its own exception") {
  cofcgi_test::LeakCheck leaks;
  std::string a_current, a_rethrown, b_current, b_rethrown;
  bool a_clean_after = false, b_clean_after = false;
  int bystander_saw_exception = 0;
  co::go([&] {
    try {
      throw std::runtime_error("from A");
    } catch (const std::exception&) {
      co::yield();  // B throws, catches and yields inside its own catch meanwhile
      a_current = what_of(std::current_exception());
      try {
        throw;
      } catch (const std::runtime_error& e) {
        a_rethrown = e.what();
      }
    }
    a_clean_after = std::current_exception() == nullptr;
  });
  co::go([&] {
    try {
      throw std::logic_error("from B");
    } catch (const std::logic_error&) {
      co::yield();  // A rethrows here
      co::yield();
      b_current = what_of(std::current_exception());
      try {
        throw;
      } catch (const std::logic_error& e) {
        b_rethrown = e.what();
      }
    }
    b_clean_after = std::current_exception() == nullptr;
  });
  co::go([&] {
    // Runs while A and B both sit in catch blocks: it must see no handled exception.
    for (int i = 0; i < 3; ++i) {
      if (std::current_exception() != nullptr) ++bystander_saw_exception;
      if (std::uncaught_exceptions() != 0) ++bystander_saw_exception;
      co::yield();
    }
  });
  co::run();
  CHECK(a_current == "from A");
  CHECK(a_rethrown == "from A");
  CHECK(b_current == "from B");
  CHECK(b_rethrown == "from B");
  CHECK(a_clean_after);
  CHECK(b_clean_after);
  CHECK(bystander_saw_exception == 0);
  CHECK(std::current_exception() == nullptr);
}

TEST_CASE(
    "exceptions: the main stack's handled exception survives resuming a coroutine that throws") {
  cofcgi_test::LeakCheck leaks;
  static std::string inside;
  inside.clear();
  stCoRoutine_t* co = nullptr;
  REQUIRE(co_create(
              &co, nullptr,
              +[](void*) -> void* {
                inside = what_of(std::current_exception());  // not main's
                try {
                  throw std::runtime_error("coroutine's");
                } catch (...) {
                  co_yield_ct();  // back to main while in a catch block
                }
                return nullptr;
              },
              nullptr) == 0);
  std::string main_rethrown;
  try {
    throw std::runtime_error("main's");
  } catch (const std::exception&) {
    co_resume(co);
    CHECK(what_of(std::current_exception()) == "main's");
    try {
      throw;
    } catch (const std::exception& e) {
      main_rethrown = e.what();
    }
  }
  CHECK(inside == "<none>");
  CHECK(main_rethrown == "main's");
  co_resume(co);  // leaves its catch block and finishes
  CHECK(std::current_exception() == nullptr);
  co_release(co);
}

namespace {

struct YieldingGuard {
  int* before;
  int* after;
  ~YieldingGuard() {
    *before = std::uncaught_exceptions();
    co::yield();  // suspended in the middle of stack unwinding
    *after = std::uncaught_exceptions();
  }
};

}  // namespace

TEST_CASE(
    "exceptions: std::uncaught_exceptions is per coroutine, even when unwinding is suspended") {
  cofcgi_test::LeakCheck leaks;
  int unwinding_before = -1, unwinding_after = -1, after_catch = -1;
  bool caught = false;
  int others_saw = 0;
  co::go([&] {
    try {
      YieldingGuard guard{&unwinding_before, &unwinding_after};
      throw std::runtime_error("unwinding");
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "unwinding";
    }
    after_catch = std::uncaught_exceptions();
  });
  co::go([&] {
    for (int i = 0; i < 3; ++i) {
      others_saw += std::uncaught_exceptions();
      if (std::current_exception() != nullptr) ++others_saw;
      co::yield();
    }
  });
  co::run();
  CHECK(unwinding_before == 1);
  CHECK(unwinding_after == 1);
  CHECK(caught);
  CHECK(after_catch == 0);
  CHECK(others_saw == 0);
  CHECK(std::uncaught_exceptions() == 0);
}

TEST_CASE(
    "exceptions: an exception escaping a co::go coroutine ends only that coroutine, with a log "
    "line") {
  cofcgi_test::LeakCheck leaks;
  int finished = 0;
  int after_throw = 0;
  std::string err;
  std::uint64_t thrower_id = 0;
  {
    StderrCapture capture;
    co::Options named;
    named.name = "thrower";
    thrower_id = co::go(named, [&] {
      co::yield();
      throw std::runtime_error("boom-exception-state-test");
      ++after_throw;  // never reached
    });
    co::go([&] {
      throw 42;
      ++after_throw;
    });
    for (int i = 0; i < 5; ++i) {
      co::go([&] {
        co::yield();
        co::yield();
        co::yield();
        ++finished;
      });
    }
    co::run();
    err = capture.finish();
  }
  CHECK(finished == 5);
  CHECK(after_throw == 0);
  CHECK(err.find("boom-exception-state-test") != std::string::npos);
  const std::string id_text = "coroutine #" + std::to_string(thrower_id) + " thrower";
  CHECK(err.find(id_text) != std::string::npos);
  CHECK(err.find("uncaught exception") != std::string::npos);
  CHECK(err.find("unknown type") != std::string::npos);  // the `throw 42`
  CHECK(std::current_exception() == nullptr);
  CHECK(std::uncaught_exceptions() == 0);
  // The thread goes on: coroutines still work afterwards.
  int later = 0;
  co::go([&] { ++later; });
  co::run();
  CHECK(later == 1);
}

TEST_CASE(
    "exceptions: an exception escaping a libco coroutine finishes it; co_release still works") {
  cofcgi_test::LeakCheck leaks;
  static int after;
  after = 0;
  stCoRoutine_t* co = nullptr;
  REQUIRE(co_create(
              &co, nullptr,
              +[](void*) -> void* {
                throw std::out_of_range("libco-escape");
                ++after;
                return nullptr;
              },
              nullptr) == 0);
  std::string err;
  {
    StderrCapture capture;
    co_resume(co);
    co_resume(co);  // finished: refused
    err = capture.finish();
  }
  CHECK(after == 0);
  CHECK(err.find("libco-escape") != std::string::npos);
  CHECK(err.find("resume of finished coroutine") != std::string::npos);
  co_release(co);
}

TEST_CASE("exceptions: with terminate-on-uncaught set, an escaping exception aborts the process") {
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 2);
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);  // doctest's fatal-signal report in the child is noise
    co::set_terminate_on_uncaught_exception(true);
    co::go([] { throw std::runtime_error("terminate-me"); });
    co::run();
    _exit(0);  // not reached if terminate works
  }
  close(out[1]);
  std::string err;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;)
    err.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO("child stderr: " << err);
  CHECK(WIFSIGNALED(status));
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(err.find("terminate-me") != std::string::npos);
}
