// The runtime's side of cancellation (cofcgi/runtime/cancel.h): what the park primitive
// checks, and the state a CancelHandle shares with its coroutine.
#pragma once

#include <cstdint>

#include "coroutine.h"

namespace co::detail {

// CancelTarget outlives its coroutine while handles name it: co turns null when the
// coroutine is destroyed. Counted, single-thread (handles are used on the coroutine's thread).
struct CancelTarget {
  Coroutine* co = nullptr;
  std::uint32_t refs = 0;  // the handles, plus one held by the coroutine while it lives
};

// park_may_be_refused: park has to look closer (a flag or a deadline, and no shield). Two
// loads and a branch on every park; the common coroutine has neither.
inline bool park_may_be_refused(const Coroutine* co) {
  return (co->cancel_requested || co->scope_deadline != kNoDeadline) && co->cancel_shields == 0;
}

// refusal is why park must not wait now (cancelled, deadline_exceeded), or notified when it
// may. Reads the clock only when a deadline is set.
WakeReason refusal(const Coroutine* co);

// cancel_coroutine sets co's flag and wakes it with WakeReason::cancelled if it is parked
// outside a shield.
void cancel_coroutine(Coroutine* co);

// forget_cancel_state: co is destroyed or reset: handles see it gone, its flag, deadline and
// shields are cleared.
void forget_cancel_state(Coroutine* co);

}  // namespace co::detail
