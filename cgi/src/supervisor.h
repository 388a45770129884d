// The supervisor (ServerOptions::workers > 0): holds the listening socket, runs the worker
// processes, restarts one that dies, reloads on SIGHUP/SIGUSR2 and stops on SIGTERM/SIGINT.
// It forks before any thread exists; a forked worker leaves run_supervisor with its
// WorkerRole and serves with the ordinary Server code (server.cpp).
#pragma once

#include <optional>

#include "cofcgi/cgi/server_options.h"
#include "listener.h"
#include "worker.h"

namespace co::cgi::detail {

struct SupervisorOutcome {
  int exit_code = 0;                 // the supervisor's, when it returns in the supervisor
  std::optional<WorkerRole> worker;  // set in a forked worker: serve with it
};

// run_supervisor runs until the service stops (exit code 0, or 1 after too many crashes) or a
// reload's new master took over (0). Call it from the only thread of the process.
SupervisorOutcome run_supervisor(const ServerOptions& options, Listener listener);

}  // namespace co::cgi::detail
