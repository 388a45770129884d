// Sanitizer annotations for stack switching, compiled away in normal builds.
// AddressSanitizer must be told about every switch (__sanitizer_start/finish_switch_fiber)
// or it mistakes the coroutine stacks for stack overflow; ThreadSanitizer needs a fiber per
// coroutine.
#pragma once

#include <cstddef>

// gcc defines __SANITIZE_ADDRESS__/__SANITIZE_THREAD__; clang 14 defines neither and only
// answers __has_feature. Missing it leaves a sanitizer build without the fiber-switch
// annotations: a clang ASan build then reports a false stack-use-after-scope on a coroutine
// stack. tests/runtime/sanitizers_check.cpp compiles this under both compilers.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(COFCGI_ASAN)
#define COFCGI_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(COFCGI_TSAN)
#define COFCGI_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(COFCGI_ASAN)
#define COFCGI_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(COFCGI_TSAN)
#define COFCGI_TSAN 1
#endif

#if defined(COFCGI_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define COFCGI_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
inline void cofcgi_asan_unpoison(void* p, std::size_t n) { __asan_unpoison_memory_region(p, n); }
#else
#define COFCGI_NO_SANITIZE_ADDRESS
inline void cofcgi_asan_unpoison(void*, std::size_t) {}
#endif

#if defined(COFCGI_TSAN)
#include <sanitizer/tsan_interface.h>
#endif
