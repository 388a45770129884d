#pragma once

#include <string>

#include "cofcgi/cgi/server_options.h"
#include "cofcgi/runtime/unique_fd.h"

namespace co::cgi::detail {

struct Listener {
  co::UniqueFd fd;
  bool is_tcp = false;
  std::string bound;      // printable address
  std::string unix_path;  // created by us: unlink at exit
};

// fd0_is_listening_socket: fd 0 is a socket in the listening state (FCGI_LISTENSOCK_FILENO,
// as spawn-fcgi passes it); its address family in *family when given.
bool fd0_is_listening_socket(int* family = nullptr);

// open_listener binds and listens on options.listen ("HOST:PORT", "[V6]:PORT", "unix:PATH")
// or adopts fd 0 when it is empty; the socket is non-blocking and close-on-exec. A stale unix
// socket (nobody accepting on it) is replaced; a live one is an error; a unix socket gets
// unix_socket_mode/owner/group. Throws std::system_error (std::invalid_argument for an
// unknown user or group).
Listener open_listener(const ServerOptions& options);

// adopt_listener takes a listening socket another process passed us (systemd, a reloading
// master) as a Listener: made non-blocking and close-on-exec; `bound` is its address, or
// `label` when it has none worth printing. Throws std::system_error when fd is not a
// listening stream socket.
Listener adopt_listener(int fd, const std::string& label);

}  // namespace co::cgi::detail
