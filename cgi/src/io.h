// Socket writes for the server: its fds are non-blocking and it waits with co::wait_fd and
// explicit deadlines itself, so the FastCGI layer needs only the runtime, not the hooks.
#pragma once

#include <cstddef>

#include "cofcgi/runtime/wait_queue.h"

namespace co::cgi::detail {

// write_fully writes all n bytes to a socket, a pipe or a file, parking while it is full;
// false (errno set) when the peer is gone, the fd was closed, or the deadline passed (errno
// EAGAIN). `written`, when given, is increased by every byte that went out.
bool write_fully(int fd, const char* data, std::size_t n, co::Deadline deadline,
                 std::size_t* written = nullptr);
// set_nonblocking sets O_NONBLOCK on an fd the server owns; false with errno on failure.
bool set_nonblocking(int fd);

}  // namespace co::cgi::detail
