// AccessLog: one line per finished request, in the server's access_format, to a file opened
// O_APPEND (or stderr). Each line is one write(2): lines from several threads never
// interleave, and a write costs the scheduler thread what a log_printf line costs.
// reopen() (SIGUSR1, after logrotate renamed the file) opens the path again and moves it onto
// the same fd number with dup3, so a line is written to the old file or the new one, never
// lost and never to a closed fd.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "access_format.h"
#include "cofcgi/cgi/server_options.h"
#include "cofcgi/runtime/unique_fd.h"

namespace co::cgi::detail {

class AccessLog {
 public:
  // Opens options.access_log_path ("" or "-": stderr); throws std::system_error naming it,
  // or std::invalid_argument for a bad access_format.
  explicit AccessLog(const ServerOptions& options);

  // write renders `r` (its sequence is filled in here) and writes the line.
  void write(AccessRecord r);
  // reopen: false when the path cannot be opened (logged; the old file stays in use).
  bool reopen();

 private:
  int fd() const { return file_ ? file_.get() : 2; }

  AccessFormat format_;
  std::string path_;
  co::UniqueFd file_;  // empty: stderr
  std::atomic<std::uint64_t> sequence_{0};
};

}  // namespace co::cgi::detail
