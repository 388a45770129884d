// RunMode: whether a program runs as a FastCGI server or as one plain CGI request, chosen once
// by Server::run() (choose_run_mode, the one place that decides).
#pragma once

#include <string>

#include "cofcgi/cgi/server_options.h"

namespace co::cgi::detail {

enum class RunMode { fastcgi, cgi };

struct RunModeChoice {
  RunMode mode = RunMode::fastcgi;
  // Why, for the log: empty when the choice needs no explanation (an explicit --listen).
  std::string why;
};

// choose_run_mode, first match wins:
//   1. --cgi (ServerOptions::cgi)              -> CGI: asked for explicitly
//   2. --listen ADDR (ServerOptions::listen)   -> FastCGI on ADDR
//   3. fd 0 is a listening socket              -> FastCGI on fd 0 (spawn-fcgi, cgi-fcgi -start,
//                                                 mod_fcgid, lighttpd's bin-path)
//   4. GATEWAY_INTERFACE is set                -> CGI: a CGI host (Apache mod_cgi/mod_cgid,
//                                                 lighttpd mod_cgi, fcgiwrap) started us
//   5. none of these                           -> FastCGI on 127.0.0.1:9000, and the log says
//                                                 why
// The FastCGI signals come before GATEWAY_INTERFACE: a FastCGI server started from a CGI
// script inherits the variable, and its fd 0 or --listen is the stronger sign.
RunModeChoice choose_run_mode(const ServerOptions& options);

}  // namespace co::cgi::detail
