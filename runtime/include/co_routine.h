/*
 * libco's public C API, source-compatible: a program written against Tencent libco's
 * co_routine.h compiles against this header unchanged and links with cofcgi::runtime and
 * cofcgi::hooks. Semantics follow libco, with its crashes turned into errors (see
 * runtime/README.md, "libco compatibility", for each difference).
 */
#ifndef COFCGI_CO_ROUTINE_H
#define COFCGI_CO_ROUTINE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/poll.h>
#include <sys/socket.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#include "cofcgi/runtime/export.h"

#ifdef __cplusplus
extern "C" {
#endif

struct stCoRoutine_t;
struct stShareStack_t;

/* Creation attributes. stack_size: bytes of private stack (0 or less: 128 KiB; rounded up to
 * whole pages, at least 16 KiB). share_stack: run on a shared stack of this group instead. */
struct stCoRoutineAttr_t {
  int stack_size;
  struct stShareStack_t* share_stack;
#ifdef __cplusplus
  stCoRoutineAttr_t() : stack_size(128 * 1024), share_stack(NULL) {}
#endif
} __attribute__((packed));

struct stCoEpoll_t;
typedef int (*pfn_co_eventloop_t)(void*);
typedef void* (*pfn_co_routine_t)(void*);

/* Coroutines. co_create returns 0, or -1 with errno (EINVAL for an absurd attribute, ENOMEM
 * when no stack can be mapped; the log line names the limit). */
COFCGI_API int co_create(struct stCoRoutine_t** co, const struct stCoRoutineAttr_t* attr,
                         void* (*routine)(void*), void* arg);
COFCGI_API void co_resume(struct stCoRoutine_t* co);
/* co_yield is a keyword from C++20 on: there the same function is cofcgi_co_yield (libco
 * programs build as C++17 or older, where it is co_yield). */
#if defined(__cplusplus) && (__cplusplus >= 202002L || defined(__cpp_impl_coroutine))
COFCGI_API void cofcgi_co_yield(struct stCoRoutine_t* co) __asm__("co_yield");
#else
COFCGI_API void co_yield (struct stCoRoutine_t* co);
#endif
COFCGI_API void co_yield_ct(void); /* ct = current thread */
COFCGI_API void co_release(struct stCoRoutine_t* co);
COFCGI_API void co_reset(struct stCoRoutine_t* co);
COFCGI_API struct stCoRoutine_t* co_self(void);
COFCGI_API struct stCoRoutine_t* co_get_current(void);

COFCGI_API int co_poll(struct stCoEpoll_t* ctx, struct pollfd fds[], nfds_t nfds, int timeout_ms);
/* Runs the event loop; pfn (may be NULL) is called once per iteration with arg, and a
 * return of -1 ends the loop. */
COFCGI_API void co_eventloop(struct stCoEpoll_t* ctx, pfn_co_eventloop_t pfn, void* arg);

/* Coroutine-specific data; on the thread's own stack these are pthread_{get,set}specific. */
COFCGI_API int co_setspecific(pthread_key_t key, const void* value);
COFCGI_API void* co_getspecific(pthread_key_t key);

COFCGI_API struct stCoEpoll_t* co_get_epoll_ct(void); /* ct = current thread */

/* Syscall hooks for the current coroutine (cofcgi::hooks does the interposing). */
COFCGI_API void co_enable_hook_sys(void);
COFCGI_API void co_disable_hook_sys(void);
COFCGI_API bool co_is_enable_sys_hook(void);

/* Condition signalling between coroutines of one thread. co_cond_timedwait returns 0 when
 * signalled, -1 with errno ETIMEDOUT on timeout (timeout_ms <= 0: no timeout). */
struct stCoCond_t;
COFCGI_API struct stCoCond_t* co_cond_alloc(void);
COFCGI_API int co_cond_free(struct stCoCond_t* cc);
COFCGI_API int co_cond_signal(struct stCoCond_t* cc);
COFCGI_API int co_cond_broadcast(struct stCoCond_t* cc);
COFCGI_API int co_cond_timedwait(struct stCoCond_t* cc, int timeout_ms);

/* Shared (copy) stacks: iCount stacks of iStackSize bytes, handed out round-robin. */
COFCGI_API struct stShareStack_t* co_alloc_sharestack(int iCount, int iStackSize);

/* Names whose setenv/getenv/unsetenv are private to each coroutine (hooks layer). */
COFCGI_API void co_set_env_list(const char* name[], size_t cnt);

COFCGI_API void co_log_err(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/* accept(2) for a listening socket driven by co_poll (libco declares it in no header). With
 * the libco-variant profile on (co_set_libco_timeouts), the accepted socket is O_NONBLOCK, as
 * the variant's co_accept made it: fcntl(F_GETFL) says so and its calls never park. */
COFCGI_API int co_accept(int fd, struct sockaddr* addr, socklen_t* len);

/* The seed's libco variant (its README, "Changes from original") reports a hooked call that
 * timed out with errno = LIBCO_POLL_TIMEOUT instead of EAGAIN/EWOULDBLOCK. The value is one
 * no kernel or libc call sets: Linux returns a failed syscall's error as -1..-4095 (MAX_ERRNO,
 * include/linux/err.h), which is all glibc's wrappers ever store in errno, and glibc's own
 * errno values are the <errno.h> constants (all below 134); 0x4C43 ("LC", 19523) is above
 * that range, so it can mean nothing else. strerror() calls it "Unknown error 19523". */
#define LIBCO_POLL_TIMEOUT 0x4C43

/* co_set_libco_timeouts switches the libco-variant profile on (enable != 0) or off for the
 * whole process; it is off by default. While on, in coroutines made by co_create with hooks
 * enabled (co::go coroutines and threads are never affected):
 * - a hooked call that times out fails with errno = LIBCO_POLL_TIMEOUT (not EAGAIN; connect:
 *   not EINPROGRESS);
 * - a socket read or write with no SO_RCVTIMEO/SO_SNDTIMEO waits at most read_timeout_ms /
 *   write_timeout_ms (< 0: libco's 1000 ms; 0: no default, only the socket's own timeouts);
 *   accept and connect keep the socket's own timeouts only;
 * - co_accept returns an O_NONBLOCK socket.
 * Programs that cannot be changed set the environment variable COFCGI_LIBCO_TIMEOUTS instead,
 * read once, at the first hooked call that asks: "on" (libco's 1000 ms both ways), "R" or
 * "R,W" (milliseconds; 0 for no default), or "", "0", "off" for off. A call overrides it. */
COFCGI_API void co_set_libco_timeouts(int enable, int read_timeout_ms, int write_timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* COFCGI_CO_ROUTINE_H */
