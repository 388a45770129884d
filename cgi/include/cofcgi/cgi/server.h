// Server: listens (TCP, unix socket or an inherited fd 0 as spawn-fcgi passes it), runs N
// threads each with its own scheduler, one coroutine per connection and one per request,
// and drains gracefully on SIGTERM/SIGINT. SIGHUP is logged and ignored (no reload yet).
#pragma once

#include <memory>
#include <string>

#include "cofcgi/cgi/handler.h"
#include "cofcgi/cgi/router.h"
#include "cofcgi/cgi/server_options.h"
#include "cofcgi/cgi/status.h"
#include "cofcgi/runtime/export.h"

namespace co::cgi {

class COFCGI_API Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // run listens and serves until SIGTERM/SIGINT (or stop()); returns the exit code (0 after a
  // clean drain). The drain stops accepting at once (the listening socket is closed: new
  // connections are refused) and waits up to grace_period for the requests in flight; past
  // it the process exits with status 1 (std::_Exit: handlers cannot be interrupted).
  // Throws std::system_error when it cannot listen.
  int run();
  // stop starts the same drain as SIGTERM; callable from any thread.
  void stop();
  // bound_address is where the server listens once run() bound its socket ("127.0.0.1:40123"),
  // "" before; callable from any thread (poll it to learn a port chosen with ":0").
  std::string bound_address() const;
  // add_status_section adds a named block of figures to the status page (status.h); call it
  // before run(). `section` runs once per page, on the thread that renders it.
  void add_status_section(std::string name, StatusSection section);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace co::cgi
