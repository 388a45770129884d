// Socket writes for the server: its fds are non-blocking and it waits with co::wait_fd and
// explicit deadlines itself, so the FastCGI layer needs only the runtime, not the hooks.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cofcgi/runtime/wait_queue.h"

namespace co::cgi::detail {

// How an fd is written. A socket with sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL): a peer gone is
// EPIPE, not SIGPIPE, whatever the fd's flags. Anything else (a CGI run's stdout: a pipe, a
// file, a terminal) with writev. The caller knows which: probing with send() and falling back
// on ENOTSOCK cost a CGI run one failed syscall per write.
enum class FdKind : std::uint8_t { socket, other };

// fd_kind: socket when fstat says so, else other.
FdKind fd_kind(int fd);

// write_fully writes the `count` pieces in order, all of them, in as few writev/sendmsg
// calls as the fd takes (IOV_MAX pieces at most per call), parking while it is full; false
// (errno set) when the peer is gone, the fd was closed, or the deadline passed (errno
// EAGAIN). The pieces are consumed: on return they describe what did not go out. `written`,
// when given, is increased by every byte that went out.
bool write_fully(int fd, FdKind kind, iovec* pieces, std::size_t count, co::Deadline deadline,
                 std::size_t* written = nullptr);
// The same for one piece.
bool write_fully(int fd, FdKind kind, std::string_view bytes, co::Deadline deadline,
                 std::size_t* written = nullptr);
// set_nonblocking sets O_NONBLOCK on an fd the server owns; false with errno on failure.
bool set_nonblocking(int fd);

}  // namespace co::cgi::detail
