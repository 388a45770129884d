#include "real_netdb.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace co::dns::real {
namespace {

template <typename Fn>
void find(Fn* fn, const char* name) {
  // RTLD_NEXT: the definition after this library in lookup order, i.e. glibc's (or a
  // sanitizer's interceptor that leads there). res_query and res_search are in libc.so.6
  // itself since glibc 2.34.
  *fn = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
  if (*fn != nullptr) return;
  char msg[200];
  const int n = std::snprintf(msg, sizeof msg, "cofcgi dns: cannot find the real %s (%s)\n", name,
                              ::dlerror());
  if (n > 0) (void)!::write(2, msg, static_cast<std::size_t>(n));
  std::abort();
}

Functions resolve() {
  Functions f;
#define COFCGI_DNS_REAL_FIND(name) find(&f.name, #name);
  COFCGI_DNS_REAL_FUNCTIONS(COFCGI_DNS_REAL_FIND)
#undef COFCGI_DNS_REAL_FIND
  return f;
}

}  // namespace

const Functions& get() {
  static const Functions functions = resolve();
  return functions;
}

// Eager resolution, so that a missing symbol shows at load time.
__attribute__((constructor(101))) void resolve_at_load() { (void)get(); }

}  // namespace co::dns::real
