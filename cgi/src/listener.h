#pragma once

#include <string>

#include "cofcgi/cgi/server.h"

namespace co::cgi::detail {

struct Listener {
  int fd = -1;
  bool is_unix = false;
  bool is_tcp = false;
  std::string bound;       // printable address
  std::string unix_path;   // created by us: unlink at exit
};

// open_listener binds and listens on options.listen ("HOST:PORT", "[V6]:PORT", "unix:PATH")
// or adopts fd 0 when it is empty; the socket is non-blocking and close-on-exec. A stale unix
// socket (nobody accepting on it) is replaced; a live one is an error. Throws
// std::system_error.
Listener open_listener(const ServerOptions& options);

}  // namespace co::cgi::detail
