// Socket I/O for the server: its fds are non-blocking and it waits with co::wait_fd and
// explicit deadlines itself, so the FastCGI layer needs only the runtime, not the hooks.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "cofcgi/runtime/wait_queue.h"

namespace co::cgi::detail {

// read_some reads what is there (parking until something is, or the deadline): bytes read,
// 0 at EOF, -1 with errno (EAGAIN: deadline passed; EBADF: woken by a close).
ssize_t read_some(int fd, char* buf, std::size_t n, co::Deadline deadline);
// write_fully writes everything or fails (-1 with errno; EAGAIN: deadline passed).
bool write_fully(int fd, const char* data, std::size_t n, co::Deadline deadline);
// set_nonblocking_cloexec configures an fd the server owns.
bool set_nonblocking(int fd);

}  // namespace co::cgi::detail
