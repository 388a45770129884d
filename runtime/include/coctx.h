/*
 * libco's coctx.h, for programs that include it (libco's own example_copystack.cpp does).
 * cofcgi switches contexts with its own code and layout (runtime/src/arch), never through a
 * coctx_t, so this header is for source compatibility only: coctx_t has libco's members and
 * size (a program may embed one in its own structs), coctx_init clears one as libco's does,
 * and coctx_make, whose only use is a later coctx_swap (libco's private assembly, declared in
 * no libco header and absent here), is declared unavailable so that a program relying on it
 * fails to compile with a reason instead of linking and misbehaving.
 */
#ifndef COFCGI_COCTX_H
#define COFCGI_COCTX_H

#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void* (*coctx_pfn_t)(void* s, void* s2);

struct coctx_param_t {
  const void* s1;
  const void* s2;
};

/* libco's saved registers (8 on i386, 14 elsewhere) and the stack they run on. */
typedef struct coctx_t {
#if defined(__i386__)
  void* regs[8];
#else
  void* regs[14];
#endif
  size_t ss_size;
  char* ss_sp;
} coctx_t;

/* coctx_init clears ctx and returns 0, as libco's does. */
static inline int coctx_init(coctx_t* ctx) {
  memset(ctx, 0, sizeof(*ctx));
  return 0;
}

/* GCC 12 and clang know `unavailable` (an error at the call, with the message); older
 * compilers get `deprecated` and then an undefined reference at link time. */
#if defined(__has_attribute)
#if __has_attribute(unavailable)
#define COFCGI_COCTX_UNAVAILABLE(msg) __attribute__((unavailable(msg)))
#endif
#endif
#ifndef COFCGI_COCTX_UNAVAILABLE
#define COFCGI_COCTX_UNAVAILABLE(msg) __attribute__((deprecated(msg)))
#endif

int coctx_make(coctx_t* ctx, coctx_pfn_t pfn, const void* s, const void* s1)
    COFCGI_COCTX_UNAVAILABLE(
        "cofcgi never switches to a coctx_t (there is no coctx_swap): start coroutines with "
        "co_create and co_resume");

#ifdef __cplusplus
}
#endif

#endif /* COFCGI_COCTX_H */
