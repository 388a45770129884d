// Uses the installed package both ways: the C++ API (co::go, co::run, a channel) and libco's
// C API (co_create, co_resume, co_yield_ct, co_cond_*). Prints "consumer: OK" when both work.
#include <cstdio>

#include "co_routine.h"
#include "cofcgi/runtime.h"

namespace {

struct PingPong {
  stCoCond_t* cond = nullptr;
  int steps = 0;
};

void* libco_routine(void* arg) {
  auto* state = static_cast<PingPong*>(arg);
  for (int i = 0; i < 3; ++i) {
    ++state->steps;
    co_yield_ct();  // back to main, which resumes us again
  }
  return nullptr;
}

}  // namespace

int main() {
  // C++ API: two coroutines talking through a channel, driven by co::run().
  co::Channel<int> numbers(2);
  int sum = 0;
  co::go([&] {
    for (int i = 1; i <= 10; ++i) numbers.send(i);
    numbers.close();
  });
  co::go([&] {
    while (auto n = numbers.receive()) sum += *n;
  });
  co::run();

  // libco's C API: create, resume until it ends, release.
  PingPong state;
  state.cond = co_cond_alloc();
  stCoRoutine_t* routine = nullptr;
  stCoRoutineAttr_t attr;
  if (co_create(&routine, &attr, libco_routine, &state) != 0) {
    std::perror("co_create");
    return 1;
  }
  for (int i = 0; i < 4; ++i) co_resume(routine);
  co_release(routine);
  co_cond_free(state.cond);

  std::printf("channel sum %d, libco steps %d\n", sum, state.steps);
  if (sum != 55 || state.steps != 3) return 1;
  std::printf("consumer: OK\n");
  return 0;
}
