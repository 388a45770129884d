// Coroutine-local values: a small table per coroutine, allocated on first use. Keys are
// either libco's pthread keys (co_setspecific) or co::Local keys, which start above the
// pthread key range so the two never collide.
#pragma once

#include <cstdint>
#include <vector>

#include "cofcgi/runtime/local.h"

namespace co::detail {

struct Coroutine;

struct LocalSlot {
  std::uint64_t key;
  void* value;
  LocalDeleter deleter;
};

struct LocalTable {
  std::vector<LocalSlot> slots;
};

// destroy_locals runs the deleters of co's owned values and frees its table.
void destroy_locals(Coroutine* co);

}  // namespace co::detail
