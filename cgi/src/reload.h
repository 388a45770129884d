// Reload and upgrade: the supervisor starts its program again from the file on disk (a new
// build is picked up), handing it the listening socket; the new master says when its workers
// serve, and only then do the old workers stop accepting (supervisor.cpp). A new master that
// cannot start (a broken config file, a bad build) exits; the old one keeps serving.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "cofcgi/runtime/unique_fd.h"
#include "listener.h"

namespace co::cgi::detail {

// ProgramImage: how to start this program again. The path is resolved when the supervisor
// starts: after an upgrade replaced the file, /proc/self/exe names the old, deleted inode.
struct ProgramImage {
  std::string path;
  std::vector<std::string> argv;
};
// current_program reads /proc/self/exe and /proc/self/cmdline; throws std::system_error.
ProgramImage current_program();

// NewMaster: a reload in progress: the child running the new program, and the read end of
// the pipe on which it says it serves (one byte; EOF without it: it failed).
struct NewMaster {
  pid_t pid = -1;
  co::UniqueFd ready;
};
// start_new_master forks and execs `image` with the listening socket (inherited_sockets.h)
// and the pipe's write end named in COFCGI_RELOAD_READY_FD. Call it with the signals the
// supervisor handles blocked: the child keeps them blocked through exec, so a signal that
// comes before the new master reads its signalfd waits instead of killing it. Throws
// std::system_error when pipe or fork fails.
NewMaster start_new_master(const ProgramImage& image, const Listener& listener);

// take_reload_ready_fd: in a master started by a reload, the pipe to the old master (removed
// from the environment, close-on-exec); an empty UniqueFd otherwise.
co::UniqueFd take_reload_ready_fd();
// announce_serving writes the byte that makes the old master retire, and closes the pipe.
void announce_serving(co::UniqueFd& ready);

}  // namespace co::cgi::detail
