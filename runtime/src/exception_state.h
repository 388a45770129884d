// The C++ runtime's per-thread exception globals (Itanium C++ ABI §2.2.2,
// __cxa_eh_globals): the chain of caught exceptions and the uncaught count. They are
// per-thread, but a coroutine that yields inside a catch block must find its own chain when
// it resumes (so `throw;` rethrows the right exception), so the switch saves and restores
// them per coroutine.
#pragma once

#include <cstdint>

namespace co::detail {

struct ExceptionState {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
};

// Points at this thread's __cxa_eh_globals, whose leading members match ExceptionState.
ExceptionState* thread_exception_state();

// The switch hands the thread's exception globals from the context that stops running
// (`from`) to the one that starts (`to`). Protocol: a context's saved copy holds its state
// while it is switched out and is all zero while it runs (its state is then in *globals). A
// switch with no catch block in progress on either side - nearly all of them - then has
// nothing to move: four loads, no store. exception_state_bits is zero exactly then (the
// scheduler's tail switch ORs it with its errno test, to branch once).
inline std::uintptr_t exception_state_bits(const ExceptionState* globals,
                                           const ExceptionState& to) {
  return reinterpret_cast<std::uintptr_t>(globals->caught_exceptions) |
         reinterpret_cast<std::uintptr_t>(to.caught_exceptions) | globals->uncaught_exceptions |
         to.uncaught_exceptions;
}

inline bool exception_state_idle(const ExceptionState* globals, const ExceptionState& to) {
  return exception_state_bits(globals, to) == 0;
}

// move_exception_state saves the live state into `from` and loads `to`'s, leaving `to`'s
// copy zero (it is about to run).
inline void move_exception_state(ExceptionState* globals, ExceptionState& from,
                                 ExceptionState& to) {
  from = *globals;
  *globals = to;
  to = ExceptionState{};
}

inline void switch_exception_state(ExceptionState* globals, ExceptionState& from,
                                   ExceptionState& to) {
  if (!exception_state_idle(globals, to)) [[unlikely]]
    move_exception_state(globals, from, to);
}

}  // namespace co::detail
