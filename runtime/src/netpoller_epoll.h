// Netpoller: this thread's epoll instance and the wait queues of each fd. An fd is added
// once, edge-triggered for both directions, the first time a coroutine waits on it; its
// waiters are woken on every edge and retry their operation (which is why waiting is only
// legal after the operation returned EAGAIN). Fds are looked up in a table that grows with
// the largest fd seen, so there is no fixed limit.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "cofcgi/runtime/wait_queue.h"
#include "unique_fd.h"

namespace co::detail {

// Bits of FdWaiters::not_ready.
inline constexpr std::uint8_t kReadNotReady = 1;
inline constexpr std::uint8_t kWriteNotReady = 2;

struct FdWaiters {
  ListNode readers;
  ListNode writers;
  bool registered = false;
  // "An operation found nothing to do in this direction, and this thread's epoll has not
  // reported an edge since" (note_not_ready). Sound because the registration is
  // edge-triggered: any readiness that arrives after the EAGAIN queues an event, and only
  // this thread's loop takes events off the queue, clearing the bit as it does. Kept only
  // while registered; cleared on every (re-)registration and by forget.
  std::uint8_t not_ready = 0;
  // Directions epoll reported hung up or in error (EPOLLRDHUP: reads; EPOLLHUP, EPOLLERR:
  // both) or with urgent data (EPOLLPRI: reads): an operation there no longer blocks, or a
  // read may stop short with data left, and no edge comes after it, so no note is kept for
  // them. This is what makes a note after a short read sound: the read emptied the socket of
  // data, but its end (or an urgent mark) may already have arrived.
  std::uint8_t hung_up = 0;
  std::uint64_t generation = 0;  // the fd's life this registration was made for (0: unknown)

  // clear_notes: a fresh (or no) registration knows nothing yet; epoll reports what is
  // ready at once after an EPOLL_CTL_ADD.
  void clear_notes() {
    not_ready = 0;
    hung_up = 0;
  }
};

class Netpoller {
 public:
  Netpoller();

  // waiters_for returns fd's queues, registering fd with epoll first if needed. Returns
  // nullptr with errno set when epoll refuses it; errno EPERM means epoll cannot watch this
  // kind of file (regular files), which callers treat as always ready. A non-zero
  // generation that differs from the registration's re-registers the fd.
  FdWaiters* waiters_for(int fd, std::uint64_t generation = 0);
  // forget wakes fd's waiters with WakeReason::closed and removes its registration.
  void forget(int fd);
  // wake_readers wakes fd's read waiters with WakeReason::notified; the registration stays.
  void wake_readers(int fd);
  // note_not_ready records that an operation on fd found nothing to do in the directions of
  // `bits` (kReadNotReady, kWriteNotReady). With a non-zero `generation` (the hooks' count of
  // the fd's lives) an fd not registered yet is registered first; with 0 (the caller vouches
  // for the fd's life) only one already registered keeps the note.
  void note_not_ready(int fd, std::uint8_t bits, std::uint64_t generation);
  // known_not_ready: every direction in `bits` is noted not ready for this generation's
  // registration, with no edge since.
  bool known_not_ready(int fd, std::uint8_t bits, std::uint64_t generation) const;
  // wait_events blocks in epoll_wait for up to timeout_ms (-1: forever) and wakes the
  // waiters of every fd that got an event; returns the number of events, and sets
  // *wakeup_fired when the cross-thread eventfd (tag `wakeup_tag`) was among them.
  int wait_events(int timeout_ms, const void* wakeup_tag, bool* wakeup_fired);
  // add_tagged registers an fd (the scheduler's eventfd) whose events are reported by tag.
  void add_tagged(int fd, void* tag);
  std::size_t registered_count() const { return registered_; }
  // rebuild replaces the epoll instance (after fork the child shares the parent's) and
  // registers again every fd that was registered, so parked coroutines still wake.
  void rebuild(int tagged_fd, void* tag);
  ~Netpoller();

 private:
  UniqueFd epoll_;
  std::vector<std::unique_ptr<FdWaiters>> fds_;
  FdWaiters* registered_slot(int fd, std::uint64_t generation) const;
  std::size_t registered_ = 0;
};

}  // namespace co::detail
