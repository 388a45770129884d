// Sleeping parks only the calling coroutine.
#pragma once

#include <chrono>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co {

// sleep_until parks the calling coroutine until the monotonic deadline; call it only from a
// coroutine (elsewhere: std::system_error(EPERM)).
COFCGI_API void sleep_until(Deadline deadline);

template <typename Rep, typename Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_until(deadline_after(std::chrono::duration_cast<std::chrono::nanoseconds>(d)));
}

}  // namespace co
