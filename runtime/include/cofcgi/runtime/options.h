// Options for creating a coroutine (co::go) and the shared-stack group type.
#pragma once

#include <cstddef>

#include "cofcgi/runtime/export.h"

struct stShareStack_t;  // libco's name for a group of shared stacks

namespace co {

// SharedStacks is a group of `count` stacks that coroutines created with it take turns on
// (libco's copy-stack mode): a parked coroutine keeps only the used part of its stack, copied
// out lazily when another coroutine needs the stack. Assigned round-robin, as libco does.
// The group must outlive every coroutine created with it.
using SharedStacks = stShareStack_t;

// make_shared_stacks allocates a group (libco's co_alloc_sharestack); throws
// std::system_error when the memory or mapping limit is reached. Never freed, like libco's,
// so coroutines can never outlive it.
COFCGI_API SharedStacks* make_shared_stacks(int count, std::size_t stack_size);

struct Options {
  // Usable stack size in bytes for a private stack; rounded up to whole pages. 0 means the
  // default (128 KiB). Ignored when shared_stacks is set.
  std::size_t stack_size = 0;
  // Run on one of these shared stacks instead of a private one.
  SharedStacks* shared_stacks = nullptr;
  // Shown in overflow reports and logs; must stay valid while the coroutine runs (a string
  // literal, or storage the coroutine's own function outlives).
  const char* name = nullptr;
  // Named by the overflow report as the setting that sizes this stack: a layer that creates
  // coroutines for its users names its own option ("ServerOptions::stack_size"), so the
  // report sends them to the knob they can turn. Null: co::Options::stack_size.
  const char* stack_size_setting = nullptr;
};

inline constexpr std::size_t kDefaultStackSize = 128 * 1024;
// Bounds for stack sizes: below the minimum a coroutine cannot even call into libc safely;
// above the maximum the request is almost certainly a unit mistake.
inline constexpr std::size_t kMinStackSize = 16 * 1024;
inline constexpr std::size_t kMaxStackSize = 1024 * 1024 * 1024;

}  // namespace co
