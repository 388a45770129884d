#include "real_netdb.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace co::dns::real {
namespace {

void* must_find(const char* name) {
  // RTLD_NEXT: the definition after this library in lookup order, i.e. glibc's (or a
  // sanitizer's interceptor that leads there).
  void* fn = ::dlsym(RTLD_NEXT, name);
  if (fn == nullptr) {
    char msg[200];
    const int n = std::snprintf(msg, sizeof msg, "cofcgi dns: cannot find the real %s (%s)\n", name,
                                ::dlerror());
    if (n > 0) (void)!::write(2, msg, static_cast<std::size_t>(n));
    std::abort();
  }
  return fn;
}

template <typename Fn>
void find(Fn* fn, const char* name) {
  *fn = reinterpret_cast<Fn>(must_find(name));
}

Functions resolve() {
  Functions f;
  find(&f.getaddrinfo, "getaddrinfo");
  find(&f.freeaddrinfo, "freeaddrinfo");
  find(&f.gethostbyname, "gethostbyname");
  find(&f.gethostbyname2, "gethostbyname2");
  find(&f.gethostbyname_r, "gethostbyname_r");
  find(&f.gethostbyname2_r, "gethostbyname2_r");
  find(&f.gethostbyaddr, "gethostbyaddr");
  find(&f.gethostbyaddr_r, "gethostbyaddr_r");
  find(&f.getnameinfo, "getnameinfo");
  find(&f.res_query, "res_query");  // glibc >= 2.34 has them in libc.so.6 itself
  find(&f.res_search, "res_search");
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
