#include "real_calls.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "sys_write.h"

namespace co::hooks::real {

#define COFCGI_HOOK(name) decltype(&::name) name = nullptr;
#include "hooked_calls.def"
#undef COFCGI_HOOK

namespace {

void* must_find(const char* name) {
  // RTLD_NEXT: the definition after this library in lookup order, i.e. libc's.
  void* fn = dlsym(RTLD_NEXT, name);
  if (fn == nullptr) {
    char msg[200];
    const int n = std::snprintf(msg, sizeof msg, "cofcgi hooks: cannot find the real %s (%s)\n",
                                name, dlerror());
    raw_write_stderr(msg, n);
    std::abort();
  }
  return fn;
}

}  // namespace

void resolve_all() {
  // Plain stores: every thread resolving concurrently writes the same values.
#define COFCGI_HOOK(name) \
  if (name == nullptr) name = reinterpret_cast<decltype(&::name)>(must_find(#name));
#include "hooked_calls.def"
#undef COFCGI_HOOK
}

// Eager resolution, before main and before most other libraries' constructors.
__attribute__((constructor(101))) void resolve_at_load() { resolve_all(); }

}  // namespace co::hooks::real

// Referenced by every executable that links cofcgi::hooks (see hooks/CMakeLists.txt), so
// the linker keeps the library even under --as-needed.
extern "C" __attribute__((visibility("default"))) const int cofcgi_hooks_linked = 1;
