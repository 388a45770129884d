// A program shaped like libco's example_copystack.cpp, which includes libco's internal
// headers coctx.h and co_routine_inner.h next to co_routine.h; such programs must build here
// unchanged. Routines on one shared stack keep a buffer naming themselves and its address,
// hand the CPU back with co_yield_env, then sleep in a hooked poll(2) under co_eventloop; each
// time they run again the buffer must be intact although the others used the same stack
// memory meanwhile. The environment calls of co_routine_inner.h are checked against
// co_routine.h's.
//   Usage: libco_inner_headers_cxxNN [ROUTINES] [ROUNDS]
// clang-format off: libco's example includes coctx.h first, so it must stand on its own.
#include "co_routine.h"
#include "co_routine_inner.h"
#include "coctx.h"
// clang-format on

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <set>
#include <vector>

static int g_rounds = 3;
static int g_finished = 0;
static int g_corrupted = 0;
static int g_env_errors = 0;
static stCoRoutineEnv_t* g_env = NULL;
static std::set<void*> g_stack_addresses;

static void CheckEnv() {
  if (co_get_curr_thread_env() != g_env) ++g_env_errors;
  if (GetCurrThreadCo() != co_self()) ++g_env_errors;
}

static void* RoutineFunc(void* args) {
  co_enable_hook_sys();
  int routine_id = *static_cast<int*>(args);
  char buf[128];
  snprintf(buf, sizeof(buf), "from routineid %d stack addr %p", routine_id,
           static_cast<void*>(buf));
  printf("%s\n", buf);
  g_stack_addresses.insert(buf);
  char expected[128];
  memcpy(expected, buf, sizeof(buf));

  CheckEnv();
  co_yield_env(co_get_curr_thread_env());  // back to main, which resumes the next one
  for (int round = 0; round < g_rounds; ++round) {
    if (memcmp(buf, expected, sizeof(buf)) != 0) ++g_corrupted;
    CheckEnv();
    poll(NULL, 0, 10);  // sleeps 10 ms; the hook parks only this routine
  }
  if (memcmp(buf, expected, sizeof(buf)) != 0) ++g_corrupted;
  ++g_finished;
  return NULL;
}

static int g_count = 3;
static int StopWhenDone(void*) { return g_finished == g_count ? -1 : 0; }

int main(int argc, char** argv) {
  if (argc > 1) g_count = atoi(argv[1]);
  if (argc > 2) g_rounds = atoi(argv[2]);
  if (g_count < 1) g_count = 3;

  co_init_curr_thread_env();
  g_env = co_get_curr_thread_env();
  if (g_env == NULL) ++g_env_errors;
  coctx_t ctx;  // libco's shape; coctx_init clears it as libco's does
  ctx.ss_size = 1;
  if (coctx_init(&ctx) != 0 || ctx.ss_size != 0 || ctx.ss_sp != NULL) ++g_env_errors;
  stCoSpec_t spec = {NULL};
  (void)spec;

  stShareStack_t* share_stack = co_alloc_sharestack(1, 1024 * 128);
  stCoRoutineAttr_t attr;
  attr.stack_size = 0;
  attr.share_stack = share_stack;

  std::vector<stCoRoutine_t*> co(g_count);
  std::vector<int> routineid(g_count);
  for (int i = 0; i < g_count; i++) {
    routineid[i] = i;
    if (co_create(&co[i], &attr, RoutineFunc, &routineid[i]) != 0) {
      perror("co_create");
      return 1;
    }
    co_resume(co[i]);
  }
  for (int i = 0; i < g_count; i++) co_resume(co[i]);  // from co_yield_env to the poll
  co_eventloop(co_get_epoll_ct(), StopWhenDone, NULL);
  for (int i = 0; i < g_count; i++) co_free(co[i]);

  int addresses = static_cast<int>(g_stack_addresses.size());
  printf(
      "inner_headers: %d routines on one shared stack finished, %d corrupted buffers, "
      "%d env errors, %d stack address(es)\n",
      g_finished, g_corrupted, g_env_errors, addresses);
  return g_finished == g_count && g_corrupted == 0 && g_env_errors == 0 && addresses == 1 ? 0 : 1;
}
