// The floating-point control state (rounding mode: MXCSR and the x87 control word on x86-64,
// FPCR on aarch64) belongs to each coroutine: changing it in one never leaks into another or
// into the thread's own stack.
#include <doctest/doctest.h>

#include <cfenv>
#include <cmath>

#include "co_routine.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"

namespace {

// Volatile inputs: computed at run time, under the current rounding mode (GCC ignores
// #pragma STDC FENV_ACCESS, so nothing may be folded at compile time).
volatile double g_two_and_half = 2.5;
volatile double g_minus_two_and_half = -2.5;
volatile long double g_two_and_half_l = 2.5L;

struct Seen {
  int mode = -1;
  double up = 0;         // nearbyint(2.5): SSE/MXCSR on x86-64
  double down = 0;       // nearbyint(-2.5)
  long double up_l = 0;  // nearbyintl(2.5L): x87 control word on x86-64
};

Seen observe() {
  Seen s;
  s.mode = std::fegetround();
  s.up = std::nearbyint(g_two_and_half);
  s.down = std::nearbyint(g_minus_two_and_half);
  s.up_l = std::nearbyintl(g_two_and_half_l);
  return s;
}

void check_to_nearest(const Seen& s) {
  CHECK(s.mode == FE_TONEAREST);
  CHECK(s.up == 2.0);  // ties to even
  CHECK(s.down == -2.0);
  CHECK(s.up_l == 2.0L);
}

struct Pair {
  Seen a_before_yield, a_after_yield, b_start, b_after_yield;
};

}  // namespace

TEST_CASE(
    "fp state: a rounding mode set in a coroutine stays with it across switches (libco API)") {
  cofcgi_test::LeakCheck leaks;
  REQUIRE(std::fegetround() == FE_TONEAREST);
  Pair p;
  stCoRoutine_t *a = nullptr, *b = nullptr;
  REQUIRE(co_create(
              &a, nullptr,
              +[](void* arg) -> void* {
                auto* s = static_cast<Pair*>(arg);
                std::fesetround(FE_UPWARD);
                s->a_before_yield = observe();
                co_yield_ct();
                s->a_after_yield = observe();
                return nullptr;
              },
              &p) == 0);
  REQUIRE(co_create(
              &b, nullptr,
              +[](void* arg) -> void* {
                auto* s = static_cast<Pair*>(arg);
                s->b_start = observe();
                std::fesetround(FE_DOWNWARD);
                co_yield_ct();
                s->b_after_yield = observe();
                return nullptr;
              },
              &p) == 0);

  co_resume(a);  // A switches to upward and yields
  {
    INFO("main stack while A is suspended");
    check_to_nearest(observe());
  }
  co_resume(b);  // B starts from main: to-nearest; switches to downward and yields
  {
    INFO("main stack while B is suspended");
    check_to_nearest(observe());
  }
  co_resume(a);
  co_resume(b);
  {
    INFO("main stack at the end");
    check_to_nearest(observe());
  }

  CHECK(p.a_before_yield.mode == FE_UPWARD);
  CHECK(p.a_before_yield.up == 3.0);
  CHECK(p.a_after_yield.mode == FE_UPWARD);
  CHECK(p.a_after_yield.up == 3.0);
  CHECK(p.a_after_yield.down == -2.0);
  CHECK(p.a_after_yield.up_l == 3.0L);
  {
    INFO("B at its start");
    check_to_nearest(p.b_start);
  }
  CHECK(p.b_after_yield.mode == FE_DOWNWARD);
  CHECK(p.b_after_yield.up == 2.0);
  CHECK(p.b_after_yield.down == -3.0);
  CHECK(p.b_after_yield.up_l == 2.0L);
  co_release(a);
  co_release(b);
}

TEST_CASE("fp state: coroutines driven by co::run keep their own rounding modes") {
  cofcgi_test::LeakCheck leaks;
  REQUIRE(std::fegetround() == FE_TONEAREST);
  constexpr int kModes[] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO, FE_TONEAREST};
  int wrong = 0;
  int checks = 0;
  for (int i = 0; i < 8; ++i) {
    const int mode = kModes[i % 4];
    co::go([&, mode] {
      std::fesetround(mode);
      for (int y = 0; y < 5; ++y) {
        co::yield();
        if (std::fegetround() != mode) ++wrong;
        const double up = std::nearbyint(g_two_and_half);
        const double expected = mode == FE_UPWARD ? 3.0 : 2.0;
        if (up != expected) ++wrong;
        ++checks;
      }
    });
  }
  co::run();
  CHECK(wrong == 0);
  CHECK(checks == 40);
  check_to_nearest(observe());
}
