// For configurations the c-ares path does not reproduce (other nsswitch sources, gai.conf,
// IDN flags...): glibc itself answers, on a bounded pool of helper threads, while only the
// calling coroutine waits (on an eventfd, through the netpoller).
#pragma once

#include <functional>

namespace co::dns {

// kHelperThreadsMax bounds the process's helper threads; calls beyond it wait in a FIFO
// queue. A thread idle for kHelperIdleSeconds ends.
inline constexpr int kHelperThreadsMax = 8;
inline constexpr int kHelperIdleSeconds = 10;

// run_on_helper_thread runs `job` on a helper thread and parks the calling coroutine until it
// has run; errno is left as the caller had it. `job` must touch only heap memory it owns:
// the caller may leave early. False, with errno ECANCELED or ETIMEDOUT, when the caller's
// wait was cancelled or its deadline passed: the job is dropped if it has not started, and
// otherwise finishes on its own. With no eventfd or no thread, `job` runs here, blocking.
bool run_on_helper_thread(std::function<void()> job);

}  // namespace co::dns
