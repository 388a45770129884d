#include "shared_stack.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <system_error>

#include "cofcgi/runtime/options.h"
#include "coroutine.h"
#include "sanitizers.h"

namespace co::detail {
namespace {

// The copies read and write stack memory the running frames do not own; AddressSanitizer
// would see stale redzones there, so the copy is not instrumented (and the shadow of the
// whole stack is cleared on load).
COFCGI_NO_SANITIZE_ADDRESS void copy_words(char* dst, const char* src, std::size_t n) {
#if defined(COFCGI_ASAN)
  for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
#else
  std::memcpy(dst, src, n);
#endif
}

}  // namespace

void save_stack(Coroutine* occupant) {
  char* top = occupant->shared->memory.top();
  const auto used = static_cast<std::uint32_t>(top - static_cast<char*>(occupant->sp));
  // Exact-size buffers: power-of-two rounding would double the memory of ten million
  // parked coroutines. Shrink only when the buffer is far too big, to avoid churn.
  if (occupant->saved_capacity < used || occupant->saved_capacity > 2 * used + 256) {
    std::free(occupant->saved);
    occupant->saved = static_cast<char*>(std::malloc(used));
    if (occupant->saved == nullptr) throw std::bad_alloc();
    occupant->saved_capacity = used;
  }
  copy_words(occupant->saved, static_cast<char*>(occupant->sp), used);
  occupant->saved_size = used;
  occupant->shared->occupant = nullptr;
}

void load_stack(Coroutine* co) {
  SharedStack* s = co->shared;
  cofcgi_asan_unpoison(s->memory.bottom(), s->memory.usable_size());
  if (co->saved_size > 0) {
    copy_words(static_cast<char*>(co->sp), co->saved, co->saved_size);
  }
  s->occupant = co;
}

void release_saved(Coroutine* co) {
  std::free(co->saved);
  co->saved = nullptr;
  co->saved_size = co->saved_capacity = 0;
  if (co->shared != nullptr && co->shared->occupant == co) co->shared->occupant = nullptr;
}

}  // namespace co::detail

namespace co {

SharedStacks* make_shared_stacks(int count, std::size_t stack_size) {
  if (count <= 0 || count > 65536) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "shared stack count out of range [1, 65536]");
  }
  const std::size_t size = detail::round_stack_size(stack_size);
  auto group = std::make_unique<stShareStack_t>();
  for (int i = 0; i < count; ++i)
    group->stacks.push_back(std::make_unique<detail::SharedStack>(size));
  return group.release();
}

}  // namespace co
