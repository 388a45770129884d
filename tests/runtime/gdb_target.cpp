// The process tools/gdb/cofcgi.py is tried on (gdb_script_test.sh): three coroutines parked
// in a named function, one more sleeping elsewhere; then SIGABRT, where gdb stops it (and
// writes a core file of it).
#include <csignal>
#include <cstdio>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/sleep.h"

using namespace std::chrono_literals;

[[gnu::noinline]] void gdb_target_parked_function(int n) {
  co::sleep_for(std::chrono::seconds(60 + n));
  asm volatile("" ::: "memory");  // not a tail call
}

int main() {
  for (int i = 0; i < 3; ++i) {
    co::Options o;
    o.name = "gdb-target-parked";
    co::go(o, [i] { gdb_target_parked_function(i); });
  }
  co::go([] {
    co::sleep_for(10ms);  // every other coroutine is parked by now
    std::printf("parked; raising SIGABRT\n");
    std::fflush(stdout);
    std::raise(SIGABRT);
  });
  co::run();
}
