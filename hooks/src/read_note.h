// The read side of the netpoller's not-ready note (co::note_fd_not_ready), as the hooks keep
// and use it (issue 15). A read of a socket that found nothing (EAGAIN), or that returned
// less than asked from a socket whose short reads leave it empty (ShortRead::empties), notes
// the fd not ready for reading, for its generation. Until this thread's netpoller takes an
// edge off epoll (which clears the note), the next read of that socket:
// - if it would block (the user left the socket blocking), parks first instead of trying;
// - if it may not block (O_NONBLOCK, MSG_DONTWAIT), answers EAGAIN without a syscall, but
//   only for a caller that waits with a one-fd poll for POLLIN: that poll parks on the note
//   (co::poll_fds) until the edge. A caller that waits any other way (several fds, select,
//   its own epoll, a zero timeout) would see the fd ready while the note still says not (the
//   loop takes edges only when the coroutine parks): it could spin, or, with an
//   edge-triggered epoll, wait for good. So each such EAGAIN is lent against a "read poll
//   stamp" that only the one-fd POLLIN poll sets, and it is used up by the EAGAIN.
// libmariadb's round trip becomes send, park, recv (its recv, EAGAIN, poll, recv before).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>

#include "fd_table.h"
#include "hook_support.h"

namespace co::hooks {

// classify_socket: the short-read kind of a fresh socket(domain, type, protocol). Only TCP
// and unix stream sockets empty on a short read; a fresh one passes no credentials and has
// no receive low-water mark (setsockopt, seen by the hooks, may change that later).
ShortRead classify_socket(int domain, int type, int protocol);

// short_read_after_setsockopt: an option that makes a stream read stop early with data left
// (unix credentials, SO_RCVLOWAT above 1, a TCP upper-layer protocol such as kTLS) turns the
// socket's kind to may_leave_data for the rest of this fd's life.
void short_read_after_setsockopt(FdInfo* info, int level, int name, const void* value,
                                 socklen_t len);

// short_read_of: the fd's kind, asking the kernel once per fd life (SO_DOMAIN, SO_TYPE,
// SO_PROTOCOL and the options above) when the hooks did not see the socket made. Errno kept.
ShortRead short_read_of(int fd, FdInfo* info);

// What a read asks for, as the note sees it: `size`, what a short read is measured against
// (for readv/recvmsg the sum of the buffers; 0 when the read takes something else than the
// stream's next data: MSG_PEEK, MSG_OOB, MSG_TRUNC, MSG_ERRQUEUE, or datagrams), and for
// recvmsg the header, whose ancillary data and flags come back with it. Sixteen bytes,
// passed in registers: a hook parked with it keeps no copy in its frame.
struct ReadAsk {
  std::size_t size = 0;
  const msghdr* msg = nullptr;
};
ReadAsk read_ask(std::size_t size, int flags, const msghdr* msg = nullptr);

// note_short_read: after a read of socket fd returned n > 0 bytes: when less than ask.size,
// from a socket whose short reads empty it, with no ancillary data or truncation reported,
// note fd not ready for reading. Errno kept.
void note_short_read(int fd, FdView v, ssize_t n, ReadAsk ask);

// noting_read: the result of a read of socket fd made without parking, after noting it
// (EAGAIN, or a short read as above).
ssize_t noting_read(ssize_t n, int fd, FdView v, ReadAsk ask);

// read_noted_empty: fd's read direction is noted not ready for v's generation, and the read
// takes the stream's next data (ask.size != 0), which is what the note speaks of.
bool read_noted_empty(int fd, FdView v, ReadAsk ask);

// lend_eagain: whether a non-blocking read of a noted socket may answer EAGAIN without a
// syscall: the last wait on fd was a one-fd POLLIN poll of this thread, with no hooked
// epoll_wait on this thread since; the stamp is used up.
bool lend_eagain(FdView v);

// stamp_read_polls records a hooked poll of these fds: for a one-fd poll of POLLIN that
// parks on the note (`honours_note`: non-zero timeout, the fd's generation known) the stamp
// that lets the next read lend EAGAIN; for any other shape, none.
void stamp_read_polls(const pollfd* fds, nfds_t nfds, bool honours_note);

// new_read_poll_epoch: a hooked epoll_wait on this thread reports fds the hooks cannot name:
// every stamp this thread gave is void from now on.
void new_read_poll_epoch();

}  // namespace co::hooks
