// A worker process: forked by the supervisor, it runs the same Server (its threads, its
// connections) on the supervisor's listening socket, and leaves when the supervisor asks
// (SIGTERM) or is gone (the lifeline pipe ends, PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include "cofcgi/cgi/server_options.h"
#include "cofcgi/runtime/unique_fd.h"
#include "listener.h"
#include "server_state.h"
#include "worker_slots.h"

namespace co::cgi::detail {

// WorkerRole: what a freshly forked worker takes from the supervisor into Server::run.
struct WorkerRole {
  int index = 0;          // 0..workers-1, kept by the worker that replaces it
  Listener listener;      // the shared listening socket (unix_path empty: never unlinked)
  co::UniqueFd lifeline;  // read end of a pipe only the supervisor writes to: EOF = it died
  co::UniqueFd ready;     // one byte once every thread accepts, then closed
  WorkerSlots slots;      // every worker's counters, shared (the status page sums them)
};

// enter_worker: first thing in the forked child. Asks for SIGTERM when the supervisor dies
// (and exits if it already has), then drops to options.user/group. Throws
// std::invalid_argument for an unknown user or group, std::system_error when dropping fails.
void enter_worker(const ServerOptions& options, pid_t supervisor);
// check_credentials: in the supervisor, before any fork: --user/--group name someone (throws
// std::invalid_argument like enter_worker), so a typo stops the start instead of making every
// worker fail.
void check_credentials(const ServerOptions& options);

// count_request_done: a handler ended (any thread). In a worker, the request that reaches
// max_requests makes it leave (Server::stop's eventfd: a handover) and the supervisor
// replaces it; a single process ignores max_requests.
void count_request_done(ServerState& state);

// tell_serving: the worker's threads all accept; the supervisor counts it as serving.
void tell_serving(WorkerRole& role);

}  // namespace co::cgi::detail
