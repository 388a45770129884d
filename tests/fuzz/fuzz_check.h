// What the fuzz targets share: COFCGI_FUZZ_CHECK, an invariant that aborts when broken (to
// libFuzzer a crash: it saves the input as a reproducer and the run fails).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace cofcgi_fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
  std::abort();
}

}  // namespace cofcgi_fuzz

// COFCGI_FUZZ_CHECK(cond) is checked in every build (never compiled away like assert).
#define COFCGI_FUZZ_CHECK(cond)                                  \
  do {                                                           \
    if (!(cond)) ::cofcgi_fuzz::fail(#cond, __FILE__, __LINE__); \
  } while (0)
