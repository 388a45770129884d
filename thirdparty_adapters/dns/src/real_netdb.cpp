#include "real_netdb.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace co::dns {
namespace {

template <typename Fn>
void find(Fn* fn, const char* name, bool required) {
  // The definition after this library in lookup order: glibc's (or a sanitizer's
  // interceptor that leads there).
  *fn = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
  if (*fn != nullptr || !required) return;
  std::fprintf(stderr, "cofcgi dns: cannot find the real %s (%s)\n", name, ::dlerror());
  std::abort();
}

RealFunctions resolve() {
  RealFunctions f;
#define COFCGI_DNS_REAL_FIND(name) find(&f.name, #name, true);
  COFCGI_DNS_REAL_FUNCTIONS(COFCGI_DNS_REAL_FIND)
#undef COFCGI_DNS_REAL_FIND
#define COFCGI_DNS_OPTIONAL_FIND(name) find(&f.name, #name, false);
  COFCGI_DNS_OPTIONAL_FUNCTIONS(COFCGI_DNS_OPTIONAL_FIND)
#undef COFCGI_DNS_OPTIONAL_FIND
  return f;
}

}  // namespace

const RealFunctions& R() {
  static const RealFunctions functions = resolve();
  return functions;
}

// Eager resolution, so that a missing symbol shows at load time.
__attribute__((constructor(101))) void resolve_at_load() { (void)R(); }

}  // namespace co::dns
