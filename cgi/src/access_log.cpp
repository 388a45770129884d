#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <system_error>

#include "cofcgi/runtime/log.h"

namespace co::cgi::detail {
namespace {

int open_for_append(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

}  // namespace

AccessLog::AccessLog(const ServerOptions& options)
    : format_(options.access_format),
      path_(options.access_log_path == "-" ? "" : options.access_log_path) {
  if (path_.empty()) return;
  file_.reset(open_for_append(path_));
  if (!file_) throw std::system_error(errno, std::generic_category(), "access log " + path_);
}

void AccessLog::write(AccessRecord r) {
  r.sequence = sequence_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::string line;
  line.reserve(256);
  format_.render(r, line);
  line += '\n';
  // Raw write: the line goes out whole now, on this thread, as log_printf's do (a regular
  // file's write does not park; the hooks would pass it through anyway).
  (void)::syscall(SYS_write, fd(), line.data(), line.size());
}

bool AccessLog::reopen() {
  if (path_.empty()) return true;
  co::UniqueFd fresh(open_for_append(path_));
  if (!fresh) {
    co::log_printf(co::LogLevel::error, "cannot reopen the access log %s: %s", path_.c_str(),
                   std::strerror(errno));
    return false;
  }
  // dup3 replaces the fd writers use in one step; fresh's own number is closed after.
  if (::syscall(SYS_dup3, fresh.get(), file_.get(), O_CLOEXEC) < 0) {
    co::log_printf(co::LogLevel::error, "cannot reopen the access log %s: dup3: %s", path_.c_str(),
                   std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace co::cgi::detail
