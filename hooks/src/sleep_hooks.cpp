// The sleep family parks only the calling coroutine, for the time asked.
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "cofcgi/runtime/cancel.h"
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

// park_for parks for d, or less when the coroutine is cancelled or its DeadlineScope passes
// (cofcgi/runtime/cancel.h): then it returns ECANCELED/ETIMEDOUT and the time left in
// *left, else 0. errno belongs to the thread: the coroutines that ran while this one slept
// may have set it, and a sleep that went its whole length leaves the caller's value, as
// libc does.
int park_for(std::chrono::nanoseconds d, std::chrono::nanoseconds* left = nullptr) {
  const int saved = errno;
  const co::Deadline deadline = co::deadline_after(d);
  const int err = co::interruption_errno(co::park_until(deadline));
  errno = saved;
  if (err != 0 && left != nullptr) {
    *left = std::chrono::nanoseconds(std::max<co::Deadline>(0, deadline - co::now_ns()));
  }
  return err;
}

timespec to_timespec(std::chrono::nanoseconds d) {
  return timespec{static_cast<time_t>(d.count() / 1000000000),
                  static_cast<long>(d.count() % 1000000000)};
}

}  // namespace

extern "C" {

// Cut short by cancellation or a deadline, the sleep family reports it as it reports a
// signal (sleep: the seconds left; nanosleep: -1 and the time left in rem), with errno
// ECANCELED/ETIMEDOUT instead of EINTR: callers that retry on EINTR do not loop on it.
COFCGI_API unsigned int sleep(unsigned int seconds) {
  if (!co::hooks_active()) return REAL(sleep)(seconds);
  std::chrono::nanoseconds left{0};
  if (const int err = park_for(std::chrono::seconds(seconds), &left)) {
    errno = err;
    return static_cast<unsigned int>((left.count() + 999999999) / 1000000000);
  }
  return 0;
}

COFCGI_API int usleep(useconds_t usec) {
  if (!co::hooks_active()) return REAL(usleep)(usec);
  if (const int err = park_for(std::chrono::microseconds(usec))) {
    errno = err;
    return -1;
  }
  return 0;
}

COFCGI_API int nanosleep(const timespec* req, timespec* rem) {
  if (!co::hooks_active()) return REAL(nanosleep)(req, rem);
  if (!valid(req)) {
    errno = EINVAL;
    return -1;
  }
  std::chrono::nanoseconds left{0};
  if (const int err = park_for(to_duration(*req), &left)) {
    if (rem != nullptr) *rem = to_timespec(left);
    errno = err;
    return -1;
  }
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
  if (d.count() <= 0) return 0;  // nothing to wait for: it completes even when cancelled
  std::chrono::nanoseconds left{0};
  const int err = park_for(d, &left);
  if (err != 0 && rem != nullptr && !(flags & TIMER_ABSTIME)) *rem = to_timespec(left);
  return err;
}

}  // extern "C"
