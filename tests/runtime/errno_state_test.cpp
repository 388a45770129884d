// errno is per thread in libc; the switch keeps it per coroutine.
#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>

#include "cofcgi/runtime.h"
#include "leak_check.h"

TEST_CASE("errno is per coroutine: a parked coroutine finds its own value when it resumes") {
  cofcgi_test::LeakCheck leaks;
  int seen_a = 0;
  int seen_b = 0;
  co::go([&] {
    errno = EINTR;
    co::sleep_for(std::chrono::milliseconds(20));
    seen_a = errno;
  });
  co::go([&] {
    errno = EBADF;
    co::yield();
    seen_b = errno;
  });
  errno = 0;
  co::run();
  CHECK(seen_a == EINTR);
  CHECK(seen_b == EBADF);
  CHECK(errno == 0);  // the thread's own stack keeps its value too
}
