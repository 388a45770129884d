// Listening sockets a process is given instead of binding them: by the master it replaces on
// a reload (COFCGI_LISTEN_FD), or by systemd's socket activation (LISTEN_FDS, LISTEN_PID,
// LISTEN_FDNAMES, read through libsystemd). fd 0 from spawn-fcgi is listener.cpp's.
#pragma once

#include <optional>

#include "listener.h"

namespace co::cgi::detail {

// take_inherited_listener: the listening socket a reloading master or systemd passed to this
// process, non-blocking and close-on-exec; nothing when none was passed. The variables are
// removed from the environment, so a child started later does not take them for its own.
// Throws std::system_error when they name an fd that is not a listening socket.
std::optional<Listener> take_inherited_listener();

// export_listener_for_exec: in a child forked to exec the new master of a reload (one thread,
// before execv): keeps `listener`'s fd open across exec and names it in the environment, with
// the unix socket path to remove when the new master finally stops.
void export_listener_for_exec(const Listener& listener);

}  // namespace co::cgi::detail
