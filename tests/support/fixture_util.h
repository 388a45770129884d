// What the server fixtures (mariadb_server, nginx_server) share: a registry of the process
// groups they started, killed at exit() even when no destructor runs, and small helpers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace cofcgi_test {

// spawn_logged forks and execs args in a process group of its own (a ^C to the test run is
// the test's business, not the server's), stdout and stderr appended to `log`, stdin from
// `input` (empty: /dev/null), no other fd inherited, no signal blocked. The child dies with
// the thread that forked it (PR_SET_PDEATHSIG). Throws std::runtime_error if fork fails.
pid_t spawn_logged(const std::vector<std::string>& args, const std::string& log,
                   const std::string& input = {});

// track_process_group: SIGKILL this group at exit() unless untracked first.
void track_process_group(pid_t pgid);
void untrack_process_group(pid_t pgid);

// accepts_connections: a TCP connect to host:port succeeds now.
bool accepts_connections(const std::string& host, std::uint16_t port);
// reap_group: waits for the leader *pgid of a server's process group (blocking or not);
// once reaped (or no child of ours any more) what is left of the group is SIGKILLed and
// untracked, and *pgid becomes -1. False while it still runs (non-blocking).
bool reap_group(pid_t* pgid, bool block, int* status);
// stop_group sends `signal` to the leader (a server's graceful stop) and reaps it; SIGKILLs
// the group after `timeout`. No-op when *pgid <= 0.
void stop_group(pid_t* pgid, int signal, std::chrono::seconds timeout);

std::string read_file(const std::string& path);
// file_tail: the last `lines` lines of a file, each indented by two spaces (for error messages).
std::string file_tail(const std::string& path, std::size_t lines);
// pick_free_port: a loopback TCP port free right now (bind to port 0); throws
// std::runtime_error. Someone may take it before the caller binds: callers retry.
std::uint16_t pick_free_port();
// describe_status: "exited with N" / "killed by signal N" for a wait status.
std::string describe_status(int status);

// remove_stale_dirs: the fixture dirs in `tmp` named PREFIX* whose owner (the pid in their
// owner.pid) is dead, left by a SIGKILL or crash: `kill_leftovers(dir)` ends what the owner
// had started, then the dir is removed.
void remove_stale_dirs(const std::filesystem::path& tmp, const std::string& prefix,
                       const std::function<void(const std::filesystem::path&)>& kill_leftovers);

}  // namespace cofcgi_test
