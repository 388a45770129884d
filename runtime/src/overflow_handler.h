// Stack-overflow reports: a SIGSEGV handler, running on a per-thread alternate signal stack
// (the faulting stack is exhausted), that recognises a fault in the running coroutine's
// guard page and names the coroutine before the process dies. Any other SIGSEGV goes to the
// handler that was there before.
#pragma once

namespace co::detail {

void install_overflow_handler_for_this_thread();
void uninstall_overflow_handler_for_this_thread();

}  // namespace co::detail
