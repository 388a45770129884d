// The sleep family parks only the calling coroutine, for the time asked.
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <chrono>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/sleep.h"
#include "real_calls.h"

namespace {

std::chrono::nanoseconds to_duration(const timespec& ts) {
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

bool valid(const timespec* ts) {
  return ts != nullptr && ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000;
}

// errno belongs to the thread: the coroutines that ran while this one slept may have set
// it, and a successful sleep leaves the caller's value, as libc does.
void park_for(std::chrono::nanoseconds d) {
  const int saved = errno;
  co::sleep_for(d);
  errno = saved;
}

}  // namespace

extern "C" {

COFCGI_API unsigned int sleep(unsigned int seconds) {
  if (!co::hooks_active()) return REAL(sleep)(seconds);
  park_for(std::chrono::seconds(seconds));
  return 0;
}

COFCGI_API int usleep(useconds_t usec) {
  if (!co::hooks_active()) return REAL(usleep)(usec);
  park_for(std::chrono::microseconds(usec));
  return 0;
}

COFCGI_API int nanosleep(const timespec* req, timespec* rem) {
  if (!co::hooks_active()) return REAL(nanosleep)(req, rem);
  if (!valid(req)) {
    errno = EINVAL;
    return -1;
  }
  park_for(to_duration(*req));
  (void)rem;  // written only when a signal interrupts the sleep, which a parked one never is
  return 0;
}

COFCGI_API int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
  if (!co::hooks_active() ||
      (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME && clock != CLOCK_BOOTTIME)) {
    return REAL(clock_nanosleep)(clock, flags, req, rem);
  }
  if (!valid(req)) return EINVAL;  // clock_nanosleep returns the error, errno untouched
  std::chrono::nanoseconds d = to_duration(*req);
  if (flags & TIMER_ABSTIME) {
    timespec now{};
    clock_gettime(clock, &now);
    d -= to_duration(now);
  }
  if (d.count() > 0) park_for(d);
  (void)rem;  // as for nanosleep: libc writes it only on EINTR
  return 0;
}

}  // extern "C"
