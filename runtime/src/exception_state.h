// The C++ runtime's per-thread exception globals (Itanium C++ ABI §2.2.2,
// __cxa_eh_globals): the chain of caught exceptions and the uncaught count. They are
// per-thread, but a coroutine that yields inside a catch block must find its own chain when
// it resumes (so `throw;` rethrows the right exception), so the switch saves and restores
// them per coroutine.
#pragma once

namespace co::detail {

struct ExceptionState {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
};

// Points at this thread's __cxa_eh_globals, whose leading members match ExceptionState.
ExceptionState* thread_exception_state();

inline void swap_exception_state(ExceptionState* globals, ExceptionState& save_into,
                                 const ExceptionState& restore_from) {
  save_into = *globals;
  *globals = restore_from;
}

}  // namespace co::detail
