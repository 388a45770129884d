// Compile-time check of runtime/src/sanitizers.h, not part of the doctest binary: CTest
// compiles it with -fsyntax-only under each sanitizer and with each compiler found (g++ and
// clang++: gcc defines __SANITIZE_ADDRESS__, clang 14 only answers __has_feature), passing
// the macro the build must end up with. A mismatch is a compile error, so the test fails.
//   -DCOFCGI_EXPECT_SANITIZER=0  no sanitizer: neither COFCGI_ASAN nor COFCGI_TSAN
//   -DCOFCGI_EXPECT_SANITIZER=1  -fsanitize=address: COFCGI_ASAN only
//   -DCOFCGI_EXPECT_SANITIZER=2  -fsanitize=thread: COFCGI_TSAN only
// Without the annotations COFCGI_ASAN enables, a clang ASan build reported a false
// stack-use-after-scope on a coroutine stack.
#include "sanitizers.h"

#if !defined(COFCGI_EXPECT_SANITIZER)
#error "compile with -DCOFCGI_EXPECT_SANITIZER=0, 1 or 2"
#endif

#if defined(COFCGI_ASAN)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#if defined(COFCGI_TSAN)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif

static_assert(kAsan == (COFCGI_EXPECT_SANITIZER == 1),
              "COFCGI_ASAN must be defined exactly when compiling with -fsanitize=address");
static_assert(kTsan == (COFCGI_EXPECT_SANITIZER == 2),
              "COFCGI_TSAN must be defined exactly when compiling with -fsanitize=thread");

int main() { return 0; }
