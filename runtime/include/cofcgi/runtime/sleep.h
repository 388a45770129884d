// Sleeping parks only the calling coroutine.
#pragma once

#include <chrono>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co {

// sleep_until parks the calling coroutine until the monotonic deadline; call it only from a
// coroutine (elsewhere: std::system_error(EPERM)). A cancelled coroutine, or one past its
// DeadlineScope, gets std::system_error(ECANCELED/ETIMEDOUT) (cancel.h), at once or when it
// happens.
COFCGI_API void sleep_until(Deadline deadline);

// park_until is sleep_until for code that speaks errno (the sleep hooks): it returns
// WakeReason::timeout when the deadline came, cancelled or deadline_exceeded when the sleep
// was refused or cut short. Only from a coroutine (else std::system_error(EPERM)).
COFCGI_API WakeReason park_until(Deadline deadline);

template <typename Rep, typename Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_until(deadline_after(std::chrono::duration_cast<std::chrono::nanoseconds>(d)));
}

}  // namespace co
