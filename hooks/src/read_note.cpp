#include "read_note.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

namespace co::hooks {
namespace {

// Flags with which a read takes something else than the stream's next data, or leaves it.
constexpr int kNotStreamData = MSG_PEEK | MSG_OOB | MSG_TRUNC | MSG_ERRQUEUE;

// This thread's read-poll epoch: the stamp a one-fd poll gives now, renewed by every hooked
// epoll_wait. The high 32 bits are a range taken once per thread from the fd table's
// process-wide counter, the low 32 count this thread's epochs: a stamp given on one thread
// never matches another's, and renewing it is a thread-local increment. Per-thread like the
// netpoller whose note it guards.
thread_local std::uint64_t t_read_poll_epoch = 0;

std::uint64_t fresh_epoch_range() { return FdTable::instance().new_stamp() << 32; }

std::uint64_t read_poll_epoch() {
  if (t_read_poll_epoch == 0) t_read_poll_epoch = fresh_epoch_range();
  return t_read_poll_epoch;
}

int int_option(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof value;
  return REAL(getsockopt)(fd, level, name, &value, &len) == 0 ? value : -1;
}

// stops_early: an option in force on this stream socket that makes reads stop with data left.
bool stops_early(int fd, int domain) {
  if (int_option(fd, SOL_SOCKET, SO_RCVLOWAT) != 1) return true;
  if (domain == AF_UNIX) {
    // A reader that takes credentials gets the data of one writer per read.
    if (int_option(fd, SOL_SOCKET, SO_PASSCRED) != 0) return true;
#ifdef SO_PASSPIDFD
    if (int_option(fd, SOL_SOCKET, SO_PASSPIDFD) > 0) return true;
#endif
    return false;
  }
  char ulp[16] = {};
  socklen_t len = sizeof ulp;
  // kTLS and other upper layers read record by record; ENOPROTOOPT: no such option, none.
  return REAL(getsockopt)(fd, IPPROTO_TCP, TCP_ULP, ulp, &len) == 0 && len > 0 && ulp[0] != '\0';
}

ShortRead learn_short_read(int fd) {
  const int domain = int_option(fd, SOL_SOCKET, SO_DOMAIN);
  const int type = int_option(fd, SOL_SOCKET, SO_TYPE);
  const int protocol = int_option(fd, SOL_SOCKET, SO_PROTOCOL);
  if (domain < 0 || type < 0 || protocol < 0) return ShortRead::may_leave_data;
  const ShortRead kind = classify_socket(domain, type, protocol);
  if (kind == ShortRead::empties && stops_early(fd, domain)) return ShortRead::may_leave_data;
  return kind;
}

}  // namespace

ShortRead classify_socket(int domain, int type, int protocol) {
  // Urgent data (TCP, and unix sockets since Linux 5.15) also stops a read at its mark:
  // once epoll reported it (EPOLLPRI) the netpoller keeps no read note (netpoll.h).
  if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM) return ShortRead::may_leave_data;
  if (domain == AF_UNIX) return ShortRead::empties;
  const bool tcp = protocol == 0 || protocol == IPPROTO_TCP;
  if ((domain == AF_INET || domain == AF_INET6) && tcp) return ShortRead::empties;
  return ShortRead::may_leave_data;  // SCTP, MPTCP, vsock, ...: not argued for
}

void short_read_after_setsockopt(FdInfo* info, int level, int name, const void* value,
                                 socklen_t len) {
  if (info == nullptr) return;
  bool early = false;
  if (level == SOL_SOCKET) {
    const int on = value != nullptr && len >= sizeof(int) ? *static_cast<const int*>(value) : 0;
    early = name == SO_RCVLOWAT ? on > 1 : (name == SO_PASSCRED || name == SO_PASSSEC) && on != 0;
#ifdef SO_PASSPIDFD
    early = early || (name == SO_PASSPIDFD && on != 0);
#endif
  } else if (level == IPPROTO_TCP) {
    early = name == TCP_ULP;
  }
  if (early) info->short_read.store(ShortRead::may_leave_data, std::memory_order_relaxed);
}

ShortRead short_read_of(int fd, FdInfo* info) {
  ShortRead kind = info->short_read.load(std::memory_order_relaxed);
  if (kind == ShortRead::unknown) {
    const ErrnoGuard keep;  // getsockopt may fail
    kind = learn_short_read(fd);
    info->short_read.store(kind, std::memory_order_relaxed);
  }
  return kind;
}

ReadAsk read_ask(std::size_t size, int flags, const msghdr* msg) {
  return ReadAsk{(flags & kNotStreamData) != 0 ? 0 : size, msg};
}

void note_short_read(int fd, FdView v, ssize_t n, ReadAsk ask) {
  if (static_cast<std::size_t>(n) >= ask.size) return;
  // Ancillary data (passed fds, credentials) ends a unix read early; so does what truncated.
  if (ask.msg != nullptr &&
      (ask.msg->msg_controllen != 0 || (ask.msg->msg_flags & (MSG_CTRUNC | MSG_TRUNC | MSG_OOB))))
    return;
  if (v.generation == 0 || short_read_of(fd, v.info) != ShortRead::empties) return;
  co::note_fd_not_ready(fd, POLLIN, v.generation);  // leaves errno alone
}

ssize_t noting_read(ssize_t n, int fd, FdView v, ReadAsk ask) {
  if (n > 0) {
    note_short_read(fd, v, n, ask);
  } else if (n < 0 && errno == EAGAIN) {
    note_not_ready(fd, Direction::read);
  }
  return n;
}

bool read_noted_empty(int fd, FdView v, ReadAsk ask) {
  return v.generation != 0 && ask.size != 0 && co::fd_known_not_ready(fd, POLLIN, v.generation);
}

bool lend_eagain(FdView v) {
  const std::uint64_t stamp = v.info->read_poll_stamp.load(std::memory_order_relaxed);
  if (stamp == 0 || stamp != read_poll_epoch()) return false;
  v.info->read_poll_stamp.store(0, std::memory_order_relaxed);
  return true;
}

void stamp_read_polls(const pollfd* fds, nfds_t nfds, bool honours_note) {
  const bool one_read_poll = honours_note && nfds == 1 && fds[0].events == POLLIN;
  const std::uint64_t stamp = one_read_poll ? read_poll_epoch() : 0;
  for (nfds_t i = 0; i < nfds; ++i) {
    FdInfo* info = FdTable::instance().get(fds[i].fd);
    if (info == nullptr) continue;
    if (info->read_poll_stamp.load(std::memory_order_relaxed) != stamp)
      info->read_poll_stamp.store(stamp, std::memory_order_relaxed);
  }
}

void new_read_poll_epoch() {
  const std::uint64_t next = read_poll_epoch() + 1;
  t_read_poll_epoch = (next & 0xffffffffu) != 0 ? next : fresh_epoch_range();
}

}  // namespace co::hooks
