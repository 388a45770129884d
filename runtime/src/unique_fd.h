// detail::UniqueFd: the runtime's own fds (epoll, eventfd), closed with the raw syscall so
// that the hooks layer (which interposes close) never sees them.
#pragma once

#include "cofcgi/runtime/unique_fd.h"
#include "sys.h"

namespace co::detail {

struct RawClose {
  void operator()(int fd) const { sys::close(fd); }
};

using UniqueFd = co::BasicUniqueFd<RawClose>;

}  // namespace co::detail
