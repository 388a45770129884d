// co::Local<T>: one T per coroutine (and one for each thread's own stack), made on first
// access and destroyed when its coroutine ends.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "co_routine.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"

namespace {

// Each test uses its own tag so counts from one test never leak into another.
template <int Tag>
struct Counted {
  static inline int constructed = 0;
  static inline int destroyed = 0;
  int value = 0;
  Counted() { ++constructed; }
  ~Counted() { ++destroyed; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
};

co::Local<Counted<1>> g_per_coroutine;
co::Local<Counted<2>> g_ends_early;
co::Local<Counted<3>> g_main_own;
co::Local<Counted<4>> g_thread_main;
co::Local<Counted<5>> g_libco;
co::Local<Counted<6>> g_shared;
co::Local<std::string> g_text;

}  // namespace

TEST_CASE("co::Local: each coroutine has its own value, kept across yields") {
  cofcgi_test::LeakCheck leaks;
  using T = Counted<1>;
  constexpr int kCount = 10;
  const int constructed_before = T::constructed;
  const int destroyed_before = T::destroyed;
  std::vector<T*> addresses(kCount, nullptr);
  int errors = 0;
  int untouched_had_value = 0;
  for (int i = 0; i < kCount; ++i) {
    co::go([&, i] {
      if (g_per_coroutine.has_value()) ++errors;  // nothing until first access
      g_per_coroutine->value = i + 1;
      addresses[i] = &*g_per_coroutine;
      g_text.get() = "coroutine " + std::to_string(i);
      co::yield();
      if (g_per_coroutine->value != i + 1) ++errors;
      if (&g_per_coroutine.get() != addresses[i]) ++errors;
      if (*g_text != "coroutine " + std::to_string(i)) ++errors;
      co::yield();
      if (g_per_coroutine->value != i + 1) ++errors;
    });
  }
  // One coroutine that never touches the local: it must not get one.
  co::go([&] {
    co::yield();
    if (g_per_coroutine.has_value()) ++untouched_had_value;
  });
  co::run();
  CHECK(errors == 0);
  CHECK(untouched_had_value == 0);
  CHECK(T::constructed - constructed_before == kCount);
  CHECK(T::destroyed - destroyed_before == kCount);  // every coroutine's value is gone
  for (int i = 0; i < kCount; ++i) {
    for (int j = i + 1; j < kCount; ++j) CHECK(addresses[i] != addresses[j]);
  }
}

TEST_CASE("co::Local: the value is destroyed when its coroutine ends, not when the loop does") {
  cofcgi_test::LeakCheck leaks;
  using T = Counted<2>;
  const int destroyed_before = T::destroyed;
  bool short_done = false;
  int destroyed_while_long_ran = -1;
  int long_value_after = -1;
  co::go([&] {
    g_ends_early->value = 1;
    short_done = true;
  });
  co::go([&] {
    g_ends_early->value = 2;
    while (!short_done) co::yield();
    co::yield();  // the short one has ended by now
    destroyed_while_long_ran = T::destroyed - destroyed_before;
    long_value_after = g_ends_early->value;
  });
  co::run();
  CHECK(destroyed_while_long_ran == 1);
  CHECK(long_value_after == 2);
  CHECK(T::destroyed - destroyed_before == 2);
}

TEST_CASE("co::Local: the thread's own stack has its own value, untouched by coroutines") {
  cofcgi_test::LeakCheck leaks;
  using T = Counted<3>;
  g_main_own->value = 77;
  T* main_address = &*g_main_own;
  const int destroyed_before = T::destroyed;
  int coroutine_saw = -1;
  bool coroutine_had_value = true;
  co::go([&] {
    coroutine_had_value = g_main_own.has_value();
    coroutine_saw = g_main_own->value;  // a fresh, default-constructed one
    g_main_own->value = 5;
  });
  co::run();
  CHECK_FALSE(coroutine_had_value);
  CHECK(coroutine_saw == 0);
  CHECK(g_main_own.has_value());
  CHECK(g_main_own->value == 77);
  CHECK(&*g_main_own == main_address);
  CHECK(T::destroyed - destroyed_before == 1);  // only the coroutine's
}

TEST_CASE("co::Local: a thread's own value is destroyed when the thread exits") {
  using T = Counted<4>;
  const int constructed_before = T::constructed;
  const int destroyed_before = T::destroyed;
  int seen = -1;
  std::thread t([&] {
    g_thread_main->value = 9;
    co::go([&] { g_thread_main->value = 10; });
    co::run();
    seen = g_thread_main->value;
  });
  t.join();
  CHECK(seen == 9);
  CHECK(T::constructed - constructed_before == 2);
  CHECK(T::destroyed - destroyed_before == 2);  // the coroutine's and the thread's
}

TEST_CASE("co::Local: libco coroutines drop their values on finish, co_release and co_reset") {
  cofcgi_test::LeakCheck leaks;
  using T = Counted<5>;
  const int destroyed_before = T::destroyed;
  const auto routine = +[](void*) -> void* {
    g_libco->value += 1;
    co_yield_ct();
    g_libco->value += 1;
    return nullptr;
  };
  stCoRoutine_t *finishing = nullptr, *released = nullptr, *reset = nullptr;
  REQUIRE(co_create(&finishing, nullptr, routine, nullptr) == 0);
  REQUIRE(co_create(&released, nullptr, routine, nullptr) == 0);
  REQUIRE(co_create(&reset, nullptr, routine, nullptr) == 0);

  co_resume(finishing);
  co_resume(finishing);  // ends
  CHECK(T::destroyed - destroyed_before == 1);

  co_resume(released);  // suspended holding a value
  co_release(released);
  CHECK(T::destroyed - destroyed_before == 2);

  co_resume(reset);  // suspended, value 1
  co_reset(reset);
  CHECK(T::destroyed - destroyed_before == 3);
  co_resume(reset);  // starts over with a fresh value
  co_resume(reset);
  CHECK(T::destroyed - destroyed_before == 4);

  co_release(finishing);
  co_release(reset);
  CHECK(T::destroyed - destroyed_before == 4);
}

TEST_CASE("co::Local: values of shared-stack coroutines live off the stack and stay their own") {
  cofcgi_test::LeakCheck leaks;
  using T = Counted<6>;
  const int destroyed_before = T::destroyed;
  co::Options options;
  options.shared_stacks = co::make_shared_stacks(1, 64 * 1024);
  int errors = 0;
  constexpr int kCount = 20;
  for (int i = 0; i < kCount; ++i) {
    co::go(options, [&, i] {
      g_shared->value = 1000 + i;
      for (int y = 0; y < 3; ++y) {
        co::yield();
        if (g_shared->value != 1000 + i) ++errors;
      }
    });
  }
  co::run();
  CHECK(errors == 0);
  CHECK(T::destroyed - destroyed_before == kCount);
}
