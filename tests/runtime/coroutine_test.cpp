#include <doctest/doctest.h>

#include "cofcgi/runtime.h"
#include "leak_check.h"

TEST_CASE("go runs coroutines and run returns when they finish") {
  cofcgi_test::LeakCheck leaks;
  int ran = 0;
  for (int i = 0; i < 10; ++i)
    co::go([&] {
      ++ran;
      co::yield();
      ++ran;
    });
  co::run();
  CHECK(ran == 20);
}
