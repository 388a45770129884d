// Helpers shared by the process-model tests (tests/ops): the supervisor's log lines, worker
// pids, processes that are gone, one request to an app.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cgi_test_util.h"

namespace ops_test {

using namespace std::chrono_literals;

// wait_for_log: true once `log_path` contains `text` at or after byte `from`.
bool wait_for_log(const std::string& log_path, const std::string& text,
                  std::chrono::milliseconds timeout, std::size_t from = 0);
// count_in_log: how many times `text` occurs in the file.
std::size_t count_in_log(const std::string& log_path, const std::string& text);
// serving_workers: the pids of "worker N (pid P) serving" lines from byte `from` on.
std::vector<pid_t> serving_workers(const std::string& log_path, std::size_t from = 0);
// wait_for_workers: waits until `n` workers logged "serving" after `from`; their pids.
std::vector<pid_t> wait_for_workers(const std::string& log_path, std::size_t n,
                                    std::chrono::milliseconds timeout, std::size_t from = 0);
// process_gone: no such process, or a zombie (exited, not reaped by its new parent yet).
bool process_gone(pid_t pid);
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout);
// fetch: GET `uri` on a new connection (FCGI_KEEP_CONN off); the response body, or nothing
// when the request failed (refused, reset, no END_REQUEST).
std::optional<std::string> fetch(const std::string& address, const std::string& uri,
                                 std::chrono::milliseconds timeout = 10s);
// pid_served: the pid in a "/pid" answer, -1 if none.
pid_t pid_served(const std::optional<std::string>& body);
// file_size: bytes in the file now (a log offset to search from).
std::size_t file_size(const std::string& path);
// read_pid_file: the pid in the file, -1 when it is missing or empty.
pid_t read_pid_file(const std::string& path);

// WrkResult: what wrk printed that says whether every request succeeded.
struct WrkResult {
  long long requests = 0;
  long long non_2xx = 0;
  long long socket_errors = 0;  // connect + read + write + timeout
  std::string out;
};
// run_wrk: /usr/bin/wrk -t2 -c`connections` for `seconds` on `url`.
WrkResult run_wrk(const std::string& url, int seconds, int connections);

}  // namespace ops_test
