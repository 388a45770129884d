// Shared stacks (libco's copy-stack mode). Several coroutines run on one stack in turn; the
// one running on it is its occupant. A coroutine that must run while another occupies its
// stack first has the occupant's used bytes (saved sp to top) copied to a heap buffer sized
// to fit, then its own bytes copied back. Copies happen lazily: only when another coroutine
// needs the stack, so ping-pong between a shared-stack coroutine and the loop copies nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "stack_memory.h"

namespace co::detail {

struct Coroutine;

class SharedStack {
 public:
  explicit SharedStack(std::size_t size) : memory(StackMemory::allocate(size)) {}
  StackMemory memory;
  Coroutine* occupant = nullptr;
};

// save_stack copies the occupant's used bytes out; load_stack copies co's bytes in and makes
// it the occupant. Neither may run on the stack it copies (the scheduler's mover sees to it).
void save_stack(Coroutine* occupant);
void load_stack(Coroutine* co);
// release_saved frees co's buffer and clears it as occupant.
void release_saved(Coroutine* co);

}  // namespace co::detail

// libco's opaque type, a group of shared stacks handed out round-robin. Used by the
// coroutines of one thread.
struct stShareStack_t {
  std::vector<std::unique_ptr<co::detail::SharedStack>> stacks;
  std::size_t next = 0;
  co::detail::SharedStack* pick() {
    co::detail::SharedStack* s = stacks[next].get();
    if (++next == stacks.size()) next = 0;  // no division per create
    return s;
  }
};
