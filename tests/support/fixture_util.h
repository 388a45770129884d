// What the server fixtures (mariadb_server, nginx_server) share: a registry of the process
// groups they started, killed at exit() even when no destructor runs, and small helpers.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace cofcgi_test {

// track_process_group: SIGKILL this group at exit() unless untracked first.
void track_process_group(pid_t pgid);
void untrack_process_group(pid_t pgid);

std::string read_file(const std::string& path);
// pick_free_port: a loopback TCP port free right now (bind to port 0); throws
// std::runtime_error. Someone may take it before the caller binds: callers retry.
std::uint16_t pick_free_port();
// describe_status: "exited with N" / "killed by signal N" for a wait status.
std::string describe_status(int status);

}  // namespace cofcgi_test
