// For configurations the c-ares path does not reproduce (other nsswitch sources, gai.conf,
// IDN flags...): glibc itself answers, on a short-lived helper thread, while only the
// calling coroutine waits (on an eventfd, through the netpoller).
#pragma once

#include <functional>

namespace co::dns {

// run_on_helper_thread runs `job` on a new thread and parks the calling coroutine until it
// returns. `job` must touch only heap memory it owns: while the coroutine is parked its
// stack may be copied away (shared stacks). If no thread can be started, `job` runs here.
void run_on_helper_thread(std::function<void()> job);

}  // namespace co::dns
