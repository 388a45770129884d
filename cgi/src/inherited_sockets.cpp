#include "inherited_sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include "cofcgi/runtime/log.h"

namespace co::cgi::detail {
namespace {

// A reloading master's socket: COFCGI_LISTEN_PID guards it like LISTEN_PID does systemd's,
// so a program this one starts (with the same environment) does not take it.
constexpr const char* kFdVar = "COFCGI_LISTEN_FD";
constexpr const char* kPidVar = "COFCGI_LISTEN_PID";
constexpr const char* kUnixPathVar = "COFCGI_LISTEN_UNIX_PATH";

std::optional<Listener> take_from_old_master() {
  const char* fd_text = std::getenv(kFdVar);
  const char* pid_text = std::getenv(kPidVar);
  const std::string unix_path = std::getenv(kUnixPathVar) ? std::getenv(kUnixPathVar) : "";
  const bool ours = fd_text != nullptr && pid_text != nullptr && std::atol(pid_text) == ::getpid();
  const int fd = ours ? std::atoi(fd_text) : -1;
  ::unsetenv(kFdVar);
  ::unsetenv(kPidVar);
  ::unsetenv(kUnixPathVar);
  if (fd < 0) return std::nullopt;
  Listener l = adopt_listener(fd, "the socket of the master reloaded");
  l.unix_path = unix_path;  // this master now removes it when it stops for good
  return l;
}

std::optional<Listener> take_from_systemd() {
  char** names = nullptr;
  const int n = sd_listen_fds_with_names(1, &names);  // 1: unsets LISTEN_FDS & co
  if (n < 0) throw std::system_error(-n, std::generic_category(), "sd_listen_fds_with_names");
  std::string name = names != nullptr && names[0] != nullptr ? names[0] : "unknown";
  if (names != nullptr) {
    for (char** p = names; *p != nullptr; ++p) std::free(*p);
    std::free(names);
  }
  if (n == 0) return std::nullopt;
  if (n > 1) {
    co::log_printf(co::LogLevel::warning,
                   "systemd passed %d sockets; serving the first (%s), closing the others", n,
                   name.c_str());
    for (int fd = SD_LISTEN_FDS_START + 1; fd < SD_LISTEN_FDS_START + n; ++fd) ::close(fd);
  }
  Listener l = adopt_listener(SD_LISTEN_FDS_START, "systemd socket " + name);
  co::log_printf(co::LogLevel::info, "listening socket from systemd (%s): %s", name.c_str(),
                 l.bound.c_str());
  return l;
}

}  // namespace

std::optional<Listener> take_inherited_listener() {
  if (std::optional<Listener> l = take_from_old_master()) return l;
  return take_from_systemd();
}

void export_listener_for_exec(const Listener& listener) {
  const int fd = listener.fd.get();
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  ::setenv(kFdVar, std::to_string(fd).c_str(), 1);
  ::setenv(kPidVar, std::to_string(::getpid()).c_str(), 1);
  if (!listener.unix_path.empty()) ::setenv(kUnixPathVar, listener.unix_path.c_str(), 1);
}

}  // namespace co::cgi::detail
