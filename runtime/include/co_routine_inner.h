/*
 * libco's co_routine_inner.h, for programs that include it (libco's own example_copystack.cpp
 * does). What it can offer without handing out cofcgi's internals:
 *
 * - the thread environment: co_init_curr_thread_env, co_get_curr_thread_env (an opaque
 *   handle for the calling thread's scheduler, as libco's is for its stCoRoutineEnv_t),
 *   co_yield_env, GetCurrThreadCo, and co_free (libco's co_release calls it; so does ours);
 * - stCoSpec_t and pfnCoRoutineFunc_t, which are plain.
 *
 * stCoRoutine_t, stShareStack_t and stStackMem_t stay incomplete types: their members are
 * libco's bookkeeping, which cofcgi keeps differently (a program reading co->cIsMain fails to
 * compile rather than read garbage). libco's event-loop and timer internals (AllocEpoll,
 * SetEpoll, AllocTimeout & co.) are declared unavailable: a thread has exactly one loop here,
 * created on first use and reached with co_get_epoll_ct(), and timeouts go through co_poll or
 * co_cond_timedwait.
 */
#ifndef COFCGI_CO_ROUTINE_INNER_H
#define COFCGI_CO_ROUTINE_INNER_H

#include <stdint.h>

#include "co_routine.h"
#include "coctx.h"

#ifdef __cplusplus
extern "C" {
#endif

struct stCoRoutineEnv_t;
struct stStackMem_t;

struct stCoSpec_t {
  void* value;
};

typedef void (*pfnCoRoutineFunc_t)();

/* co_init_curr_thread_env sets up the calling thread's scheduler (done on first use anyway). */
static inline void co_init_curr_thread_env(void) { (void)co_get_epoll_ct(); }

/* co_get_curr_thread_env returns the calling thread's environment: compare it, or pass it to
 * co_yield_env; it has no members to read. */
static inline struct stCoRoutineEnv_t* co_get_curr_thread_env(void) {
  return (struct stCoRoutineEnv_t*)co_get_epoll_ct();
}

/* co_yield_env gives the CPU back from the running coroutine, as co_yield_ct(); env must be
 * the calling thread's (libco has no other use). */
static inline void co_yield_env(struct stCoRoutineEnv_t* env) {
  (void)env;
  co_yield_ct();
}

/* GetCurrThreadCo returns the running coroutine (the thread's main one outside any). */
static inline struct stCoRoutine_t* GetCurrThreadCo(void) { return co_self(); }

/* co_free ends a coroutine's life: libco's co_release is exactly co_free. */
static inline void co_free(struct stCoRoutine_t* co) { co_release(co); }

#define COFCGI_LIBCO_LOOP_INTERNAL                                                        \
  COFCGI_COCTX_UNAVAILABLE(                                                               \
      "libco's event-loop internals: cofcgi has one loop per thread, co_get_epoll_ct(); " \
      "wait with co_poll or co_cond_timedwait")

struct stTimeout_t;
struct stTimeoutItem_t;
struct stTimeout_t* AllocTimeout(int iSize) COFCGI_LIBCO_LOOP_INTERNAL;
void FreeTimeout(struct stTimeout_t* apTimeout) COFCGI_LIBCO_LOOP_INTERNAL;
int AddTimeout(struct stTimeout_t* apTimeout, struct stTimeoutItem_t* apItem,
               uint64_t allNow) COFCGI_LIBCO_LOOP_INTERNAL;
struct stCoEpoll_t* AllocEpoll(void) COFCGI_LIBCO_LOOP_INTERNAL;
void FreeEpoll(struct stCoEpoll_t* ctx) COFCGI_LIBCO_LOOP_INTERNAL;
void SetEpoll(struct stCoRoutineEnv_t* env, struct stCoEpoll_t* ev) COFCGI_LIBCO_LOOP_INTERNAL;

#ifdef __cplusplus
}
#endif

#endif /* COFCGI_CO_ROUTINE_INNER_H */
