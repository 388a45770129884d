/* Built by run_install_test.sh with `pkg-config --cflags --libs cofcgi` only: libco's C API
 * from plain C. A producer coroutine hands numbers to a consumer through a co_cond, on the
 * event loop. Prints "pkg-config: OK" when every number arrived. */
#include <stdio.h>

#include "co_routine.h"

static struct stCoCond_t* g_cond;
static int g_value = -1; /* -1: empty slot */
static int g_received;
static int g_sum;
static int g_done;

static void* producer(void* arg) {
  int n = *(int*)arg;
  for (int i = 1; i <= n; ++i) {
    while (g_value != -1) co_poll(co_get_epoll_ct(), NULL, 0, 1); /* wait for the slot */
    g_value = i;
    co_cond_signal(g_cond);
  }
  return NULL;
}

static void* consumer(void* arg) {
  int n = *(int*)arg;
  while (g_received < n) {
    if (g_value == -1 && co_cond_timedwait(g_cond, 1000) != 0) break;
    if (g_value == -1) continue;
    g_sum += g_value;
    g_value = -1;
    ++g_received;
  }
  g_done = 1;
  return NULL;
}

static int stop_when_done(void* arg) {
  (void)arg;
  return g_done ? -1 : 0;
}

int main(void) {
  int n = 100;
  struct stCoRoutine_t* co[2];
  g_cond = co_cond_alloc();
  if (co_create(&co[0], NULL, consumer, &n) != 0 || co_create(&co[1], NULL, producer, &n) != 0) {
    perror("co_create");
    return 1;
  }
  co_resume(co[0]);
  co_resume(co[1]);
  co_eventloop(co_get_epoll_ct(), stop_when_done, NULL);
  co_release(co[0]);
  co_release(co[1]);
  co_cond_free(g_cond);
  printf("received %d, sum %d\n", g_received, g_sum);
  if (g_received != n || g_sum != n * (n + 1) / 2) return 1;
  printf("pkg-config: OK\n");
  return 0;
}
