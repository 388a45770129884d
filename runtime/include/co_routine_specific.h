/*
 * libco's coroutine-specific variables, source-compatible:
 *
 *   struct MyData { int value; };
 *   CO_ROUTINE_SPECIFIC(MyData, __routine);   // type, then variable name
 *   ... __routine->value = 10;                // each coroutine sees its own MyData
 *
 * The object is zero-filled on first access in each coroutine (calloc, as libco does, so T
 * should be a plain struct). cofcgi frees it when the coroutine ends; libco leaked it.
 *
 * Like libco's, the macro ends in `;`, so it is written with or without one: libco programs
 * do both. The extra `;` is an empty declaration at namespace scope, valid since C++11 and
 * silent under -Wall -Wextra -Wpedantic (only clang's opt-in -Wextra-semi flags it, as it
 * does with libco's macro).
 */
#ifndef COFCGI_CO_ROUTINE_SPECIFIC_H
#define COFCGI_CO_ROUTINE_SPECIFIC_H

#include <pthread.h>
#include <stdlib.h>

#include "co_routine.h"

#ifdef __cplusplus
extern "C" COFCGI_API int cofcgi_co_setspecific_owned(pthread_key_t key, void* value);

#define CO_ROUTINE_SPECIFIC(name, y)                                                \
  static pthread_once_t cofcgi_specific_once_##name = PTHREAD_ONCE_INIT;            \
  static pthread_key_t cofcgi_specific_key_##name;                                  \
  static void cofcgi_specific_make_key_##name() {                                   \
    (void)pthread_key_create(&cofcgi_specific_key_##name, NULL);                    \
  }                                                                                 \
  template <class T>                                                                \
  class clsRoutineData_routine_##name {                                             \
   public:                                                                          \
    inline T* operator->() {                                                        \
      pthread_once(&cofcgi_specific_once_##name, cofcgi_specific_make_key_##name);  \
      T* p = (T*)co_getspecific(cofcgi_specific_key_##name);                        \
      if (!p) {                                                                     \
        p = (T*)calloc(1, sizeof(T));                                               \
        if (p && cofcgi_co_setspecific_owned(cofcgi_specific_key_##name, p) != 0) { \
          free(p);                                                                  \
          p = NULL;                                                                 \
        }                                                                           \
      }                                                                             \
      return p;                                                                     \
    }                                                                               \
  };                                                                                \
  static clsRoutineData_routine_##name<name> y;
#endif

#endif /* COFCGI_CO_ROUTINE_SPECIFIC_H */
