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

Functions resolve() {
  Functions f;
  f.getaddrinfo = reinterpret_cast<getaddrinfo_fn>(must_find("getaddrinfo"));
  f.freeaddrinfo = reinterpret_cast<freeaddrinfo_fn>(must_find("freeaddrinfo"));
  f.gethostbyname = reinterpret_cast<gethostbyname_fn>(must_find("gethostbyname"));
  f.gethostbyname2 = reinterpret_cast<gethostbyname2_fn>(must_find("gethostbyname2"));
  f.gethostbyname_r = reinterpret_cast<gethostbyname_r_fn>(must_find("gethostbyname_r"));
  f.gethostbyname2_r = reinterpret_cast<gethostbyname2_r_fn>(must_find("gethostbyname2_r"));
  f.getnameinfo = reinterpret_cast<getnameinfo_fn>(must_find("getnameinfo"));
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
