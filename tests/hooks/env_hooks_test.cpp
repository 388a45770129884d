// Per-coroutine environment (libco's co_set_env_list): for the names registered, setenv /
// getenv / unsetenv / putenv inside a coroutine act on that coroutine's own copy; other
// names, and every call outside coroutines, are the process environment as libc keeps it.
#include <doctest/doctest.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "co_routine.h"
#include "cofcgi/hooks/hooks.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"

namespace {

std::string env_or(const char* name, const char* fallback = "<unset>") {
  const char* v = ::getenv(name);
  return v != nullptr ? v : fallback;
}

// Registers the CGI names once for the whole binary (names accumulate, process-wide).
void register_names() {
  const char* names[] = {"QUERY_STRING", "REQUEST_METHOD"};
  co_set_env_list(names, 2);                         // libco's C entry point
  co::hooks::set_env_list({"COFCGI_TEST_PRIVATE"});  // and the C++ one
}

// ProcessEnv restores a process variable on scope exit.
class ProcessEnv {
 public:
  explicit ProcessEnv(const char* name) : name_(name) {
    const char* v = ::getenv(name);
    had_ = v != nullptr;
    if (had_) value_ = v;
  }
  ~ProcessEnv() {
    if (had_) {
      ::setenv(name_, value_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string value_;
};

}  // namespace

TEST_CASE("env hooks: two coroutines each see their own QUERY_STRING across yields") {
  cofcgi_test::LeakCheck leaks;
  register_names();
  ProcessEnv restore_q("QUERY_STRING");
  ProcessEnv restore_m("REQUEST_METHOD");
  ::setenv("QUERY_STRING", "process", 1);
  ::unsetenv("REQUEST_METHOD");
  std::vector<std::string> seen_a, seen_b;
  co::go([&] {
    CHECK(::setenv("QUERY_STRING", "a=1", 1) == 0);
    CHECK(::setenv("REQUEST_METHOD", "GET", 1) == 0);
    seen_a.push_back(env_or("QUERY_STRING"));
    co::yield();
    seen_a.push_back(env_or("QUERY_STRING"));
    ::usleep(20'000);  // parks in a hook; the other coroutine runs and sets its own
    seen_a.push_back(env_or("QUERY_STRING"));
    seen_a.push_back(env_or("REQUEST_METHOD"));
  });
  co::go([&] {
    CHECK(::setenv("QUERY_STRING", "b=2", 1) == 0);
    CHECK(::setenv("REQUEST_METHOD", "POST", 1) == 0);
    seen_b.push_back(env_or("QUERY_STRING"));
    co::yield();
    seen_b.push_back(env_or("QUERY_STRING"));
    ::usleep(10'000);
    CHECK(::setenv("QUERY_STRING", "b=3", 1) == 0);  // overwrite its own
    seen_b.push_back(env_or("QUERY_STRING"));
    seen_b.push_back(env_or("REQUEST_METHOD"));
  });
  co::go([&] {
    // A coroutine that never set it reads the process value.
    CHECK(env_or("QUERY_STRING") == "process");
    CHECK(env_or("REQUEST_METHOD") == "<unset>");
  });
  co::run();
  CHECK(seen_a == std::vector<std::string>{"a=1", "a=1", "a=1", "GET"});
  CHECK(seen_b == std::vector<std::string>{"b=2", "b=2", "b=3", "POST"});
  // The process environment was never touched.
  CHECK(env_or("QUERY_STRING") == "process");
  CHECK(env_or("REQUEST_METHOD") == "<unset>");
}

TEST_CASE("env hooks: setenv without overwrite respects the coroutine's and the process's value") {
  cofcgi_test::LeakCheck leaks;
  register_names();
  ProcessEnv restore("QUERY_STRING");
  ::setenv("QUERY_STRING", "process", 1);
  std::string first, second;
  co::go([&] {
    CHECK(::setenv("QUERY_STRING", "ignored", 0) == 0);  // the process value counts as set
    first = env_or("QUERY_STRING");
    CHECK(::setenv("QUERY_STRING", "mine", 1) == 0);
    CHECK(::setenv("QUERY_STRING", "ignored too", 0) == 0);
    second = env_or("QUERY_STRING");
  });
  co::run();
  CHECK(first == "process");
  CHECK(second == "mine");
  CHECK(env_or("QUERY_STRING") == "process");
}

TEST_CASE("env hooks: a name not in the list is process-wide") {
  cofcgi_test::LeakCheck leaks;
  register_names();
  ProcessEnv restore("COFCGI_TEST_SHARED");
  ::unsetenv("COFCGI_TEST_SHARED");
  std::string seen_by_b;
  co::go([&] {
    CHECK(::setenv("COFCGI_TEST_SHARED", "from a", 1) == 0);
    co::yield();
  });
  co::go([&] { seen_by_b = env_or("COFCGI_TEST_SHARED"); });
  co::run();
  CHECK(seen_by_b == "from a");
  CHECK(env_or("COFCGI_TEST_SHARED") == "from a");
}

TEST_CASE("env hooks: unsetenv in a coroutine hides the process value only there") {
  cofcgi_test::LeakCheck leaks;
  register_names();
  ProcessEnv restore("QUERY_STRING");
  ::setenv("QUERY_STRING", "process", 1);
  std::string in_a, in_b, in_a_after_set;
  co::go([&] {
    CHECK(::unsetenv("QUERY_STRING") == 0);
    co::yield();
    in_a = env_or("QUERY_STRING");
    CHECK(::setenv("QUERY_STRING", "again", 0) == 0);  // unset here, so this sets it
    in_a_after_set = env_or("QUERY_STRING");
  });
  co::go([&] {
    co::yield();
    in_b = env_or("QUERY_STRING");
  });
  co::run();
  CHECK(in_a == "<unset>");
  CHECK(in_a_after_set == "again");
  CHECK(in_b == "process");
  CHECK(env_or("QUERY_STRING") == "process");
}

TEST_CASE("env hooks: putenv in a coroutine is private for listed names, process-wide for others") {
  cofcgi_test::LeakCheck leaks;
  register_names();
  ProcessEnv restore_q("QUERY_STRING");
  ProcessEnv restore_s("COFCGI_TEST_PUT");
  ::unsetenv("QUERY_STRING");
  ::unsetenv("COFCGI_TEST_PUT");
  static char private_entry[] = "QUERY_STRING=put=1";
  static char shared_entry[] = "COFCGI_TEST_PUT=yes";
  std::string in_a, in_b;
  co::go([&] {
    CHECK(::putenv(private_entry) == 0);
    CHECK(::putenv(shared_entry) == 0);
    co::yield();
    in_a = env_or("QUERY_STRING");
  });
  co::go([&] {
    co::yield();
    in_b = env_or("QUERY_STRING");
  });
  co::run();
  CHECK(in_a == "put=1");
  CHECK(in_b == "<unset>");
  CHECK(env_or("QUERY_STRING") == "<unset>");
  CHECK(env_or("COFCGI_TEST_PUT") == "yes");
  ::unsetenv("COFCGI_TEST_PUT");  // before shared_entry could be reused
}

TEST_CASE("env hooks: a coroutine's values go away with it") {
  cofcgi_test::LeakCheck leaks;
  register_names();
  ProcessEnv restore("QUERY_STRING");
  ::unsetenv("QUERY_STRING");
  co::go([] { ::setenv("QUERY_STRING", "short-lived", 1); });
  co::run();
  std::string later;
  co::go([&] { later = env_or("QUERY_STRING"); });
  co::run();
  CHECK(later == "<unset>");
}

TEST_CASE("env hooks: with hooks disabled, a coroutine uses the process environment") {
  cofcgi_test::LeakCheck leaks;
  register_names();
  ProcessEnv restore("QUERY_STRING");
  ::unsetenv("QUERY_STRING");
  co::go([] {
    co::hooks::ScopedDisable off;
    ::setenv("QUERY_STRING", "process-wide", 1);
  });
  co::run();
  CHECK(env_or("QUERY_STRING") == "process-wide");
}

TEST_CASE("env hooks: outside coroutines, plain libc behaviour") {
  register_names();
  ProcessEnv restore("QUERY_STRING");
  CHECK(::setenv("QUERY_STRING", "main", 1) == 0);
  CHECK(env_or("QUERY_STRING") == "main");
  CHECK(::setenv("QUERY_STRING", "not this", 0) == 0);
  CHECK(env_or("QUERY_STRING") == "main");
  CHECK(::unsetenv("QUERY_STRING") == 0);
  CHECK(::getenv("QUERY_STRING") == nullptr);
  static char entry[] = "QUERY_STRING=put";
  CHECK(::putenv(entry) == 0);
  CHECK(::getenv("QUERY_STRING") == entry + 13);  // putenv keeps the caller's string
  CHECK(::unsetenv("QUERY_STRING") == 0);
  // libc's argument checks are libc's.
  errno = 0;
  CHECK(::setenv("", "x", 1) == -1);
  CHECK(errno == EINVAL);
  errno = 0;
  CHECK(::setenv("A=B", "x", 1) == -1);
  CHECK(errno == EINVAL);
  // And from a thread with no scheduler at all.
  std::string from_thread;
  std::thread t([&] {
    ::setenv("QUERY_STRING", "thread", 1);
    from_thread = env_or("QUERY_STRING");
  });
  t.join();
  CHECK(from_thread == "thread");
  CHECK(env_or("QUERY_STRING") == "thread");
}

TEST_CASE("env hooks: argument errors inside a coroutine are libc's too") {
  cofcgi_test::LeakCheck leaks;
  register_names();
  int r1 = 0, e1 = 0, r2 = 0, e2 = 0;
  co::go([&] {
    errno = 0;
    r1 = ::setenv("", "x", 1);
    e1 = errno;
    errno = 0;
    r2 = ::unsetenv("QUERY_STRING=x");
    e2 = errno;
  });
  co::run();
  CHECK(r1 == -1);
  CHECK(e1 == EINVAL);
  CHECK(r2 == -1);
  CHECK(e2 == EINVAL);
}
