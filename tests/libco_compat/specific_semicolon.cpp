// libco's CO_ROUTINE_SPECIFIC ends in `;`, so libco programs write it with or without one of
// their own, and both must build here unchanged: as C++11 (how libco programs build) and as
// C++20, with -Wpedantic -Werror (tests/libco_compat/CMakeLists.txt). Each coroutine, and the
// thread's own stack, must still see its own objects.
//   Usage: libco_specific_semicolon_cxxNN [ROUTINES]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "co_routine.h"
#include "co_routine_specific.h"

struct Counter {
  int value;
};
struct Label {
  char text[16];
};

// clang-format off: the two spellings are the point; clang-format would join the first line
// with the next declaration.
CO_ROUTINE_SPECIFIC(Counter, g_counter)
CO_ROUTINE_SPECIFIC(Label, g_label);
// clang-format on

static const int kRounds = 3;
static int g_finished = 0;
static int g_mismatches = 0;

static void* routine(void* arg) {
  int id = *static_cast<int*>(arg);
  char expected[16];
  snprintf(expected, sizeof(expected), "r%d", id);
  for (int round = 1; round <= kRounds; ++round) {
    g_counter->value += id;
    snprintf(g_label->text, sizeof(g_label->text), "r%d", id);
    co_yield_ct();  // the others write their own copies meanwhile
    if (g_counter->value != id * round) ++g_mismatches;
    if (strcmp(g_label->text, expected) != 0) ++g_mismatches;
  }
  ++g_finished;
  return NULL;
}

int main(int argc, char** argv) {
  int count = argc > 1 ? atoi(argv[1]) : 8;
  if (count < 1 || count > 64) count = 8;
  stCoRoutine_t* co[64];
  int ids[64];
  g_counter->value = -1;  // the thread's own copy, which no coroutine may touch
  for (int i = 0; i < count; ++i) {
    ids[i] = i + 1;
    if (co_create(&co[i], NULL, routine, &ids[i]) != 0) {
      perror("co_create");
      return 1;
    }
  }
  for (int pass = 0; pass <= kRounds; ++pass) {
    for (int i = 0; i < count; ++i) co_resume(co[i]);
  }
  for (int i = 0; i < count; ++i) co_release(co[i]);
  if (g_counter->value != -1) ++g_mismatches;
  printf("specific_semicolon: %d routines finished, %d mismatches\n", g_finished, g_mismatches);
  return g_finished == count && g_mismatches == 0 ? 0 : 1;
}
