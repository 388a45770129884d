#include "netpoller_epoll.h"

#include <errno.h>

#include <system_error>

#include "intrusive_list.h"
#include "scheduler.h"

namespace co::detail {
namespace {

constexpr std::uint32_t kReadEvents = EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
constexpr std::uint32_t kWriteEvents = EPOLLOUT | EPOLLHUP | EPOLLERR;

// wake_all wakes every waiter of `queue`, handing each coroutine the events epoll reported
// (`events`, 0 for none) so that a one-fd poll needs no second poll() to learn them.
void wake_all(ListNode& queue, WakeReason reason, std::uint32_t events = 0) {
  Scheduler& sched = Scheduler::get();
  while (ListNode* node = list_pop_front(queue)) {
    Coroutine* co = container_of<Waiter, &Waiter::link>(node)->co;
    co->ready_events = static_cast<std::uint16_t>(co->ready_events | events);
    sched.make_ready(co, reason);
  }
}

}  // namespace

Netpoller::Netpoller() : epoll_(epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

Netpoller::~Netpoller() = default;

FdWaiters* Netpoller::waiters_for(int fd, std::uint64_t generation) {
  if (fd < 0) {
    errno = EBADF;
    return nullptr;
  }
  const auto index = static_cast<std::size_t>(fd);
  if (index >= fds_.size()) fds_.resize(index + index / 2 + 64);
  std::unique_ptr<FdWaiters>& slot = fds_[index];
  if (!slot) slot = std::make_unique<FdWaiters>();
  if (slot->registered && generation != 0 && generation != slot->generation) {
    // A new life of this fd number: the old registration may be gone with the old file.
    (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    slot->registered = false;
    --registered_;
  }
  if (!slot->registered) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = slot.get();
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      // EEXIST: registered by an earlier life of this fd number that was closed behind the
      // runtime's back while a duplicate kept the file open; refresh it.
      if (errno != EEXIST || epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) return nullptr;
    }
    slot->registered = true;
    slot->clear_notes();
    slot->generation = generation;
    ++registered_;
  }
  return slot.get();
}

void Netpoller::forget(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size() || !fds_[fd]) return;
  FdWaiters& w = *fds_[fd];
  wake_all(w.readers, WakeReason::closed);
  wake_all(w.writers, WakeReason::closed);
  w.clear_notes();
  if (w.registered) {
    (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    w.registered = false;
    --registered_;
  }
}

void Netpoller::wake_readers(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size() || !fds_[fd]) return;
  wake_all(fds_[fd]->readers, WakeReason::notified);
}

FdWaiters* Netpoller::registered_slot(int fd, std::uint64_t generation) const {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
  FdWaiters* w = fds_[static_cast<std::size_t>(fd)].get();
  if (w == nullptr || !w->registered) return nullptr;
  if (generation != 0 && generation != w->generation) return nullptr;  // another life
  return w;
}

void Netpoller::note_not_ready(int fd, std::uint8_t bits, std::uint64_t generation) {
  FdWaiters* w = registered_slot(fd, generation);
  if (w == nullptr && generation != 0) {
    // Not waited on yet (every read so far found data): registered now, once per fd life,
    // so that the note can be kept. Sound: epoll_ctl(ADD) queues an event at once for
    // whatever is ready already, and an edge for everything after.
    const int saved_errno = errno;
    w = waiters_for(fd, generation);
    errno = saved_errno;
  }
  if (w != nullptr) w->not_ready |= static_cast<std::uint8_t>(bits & ~w->hung_up);
}

bool Netpoller::known_not_ready(int fd, std::uint8_t bits, std::uint64_t generation) const {
  const FdWaiters* w = registered_slot(fd, generation);
  return w != nullptr && (w->not_ready & bits) == bits;
}

void Netpoller::add_tagged(int fd, void* tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = tag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(wakeup eventfd)");
  }
}

void Netpoller::rebuild(int tagged_fd, void* tag) {
  UniqueFd fresh(epoll_create1(EPOLL_CLOEXEC));
  if (!fresh) throw std::system_error(errno, std::generic_category(), "epoll_create1 after fork");
  epoll_ = std::move(fresh);
  if (tagged_fd >= 0) add_tagged(tagged_fd, tag);
  for (std::size_t fd = 0; fd < fds_.size(); ++fd) {
    if (!fds_[fd] || !fds_[fd]->registered) continue;
    fds_[fd]->clear_notes();  // the fresh registration reports what is ready now
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = fds_[fd].get();
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, static_cast<int>(fd), &ev) != 0) {
      fds_[fd]->registered = false;
      --registered_;
    }
  }
}

int Netpoller::wait_events(int timeout_ms, const void* wakeup_tag, bool* wakeup_fired) {
  epoll_event events[256];
  const int n = sys::epoll_wait(epoll_.get(), events, 256, timeout_ms);
  for (int i = 0; i < n; ++i) {
    if (events[i].data.ptr == wakeup_tag) {
      *wakeup_fired = true;
      continue;
    }
    auto* w = static_cast<FdWaiters*>(events[i].data.ptr);
    const std::uint32_t got = events[i].events;
    // EPOLLPRI too: urgent data stops a read at its mark with data left, so a short read
    // after it proves nothing.
    if (got & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) w->hung_up |= kReadNotReady;
    if (got & (EPOLLHUP | EPOLLERR)) w->hung_up |= kWriteNotReady;
    if (got & kReadEvents) {
      w->not_ready &= static_cast<std::uint8_t>(~kReadNotReady);
      wake_all(w->readers, WakeReason::notified, got);
    }
    if (got & kWriteEvents) {
      w->not_ready &= static_cast<std::uint8_t>(~kWriteNotReady);
      wake_all(w->writers, WakeReason::notified, got);
    }
  }
  return n;
}

}  // namespace co::detail
