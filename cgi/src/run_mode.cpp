#include "run_mode.h"

#include <cstdlib>

#include "listener.h"

namespace co::cgi::detail {

RunModeChoice choose_run_mode(const ServerOptions& options) {
  if (options.cgi) return {RunMode::cgi, "CGI: --cgi given"};
  if (!options.listen.empty()) return {RunMode::fastcgi, ""};
  if (fd0_is_listening_socket()) {
    return {RunMode::fastcgi, "FastCGI on fd 0: it is a listening socket (FCGI_LISTENSOCK_FILENO)"};
  }
  if (const char* gateway = std::getenv("GATEWAY_INTERFACE"); gateway != nullptr) {
    return {RunMode::cgi, std::string("CGI: GATEWAY_INTERFACE=") + gateway +
                              " and fd 0 is not a listening socket"};
  }
  return {RunMode::fastcgi,
          "FastCGI on the default address: no --listen, fd 0 is not a listening socket and "
          "GATEWAY_INTERFACE is not set (--listen ADDR to choose, --cgi for one CGI request)"};
}

}  // namespace co::cgi::detail
