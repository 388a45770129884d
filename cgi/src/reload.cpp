#include "reload.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

#include "inherited_sockets.h"
#include "systemd_notify.h"

namespace co::cgi::detail {
namespace {

constexpr const char* kReadyVar = "COFCGI_RELOAD_READY_FD";

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// exec_new_master: in the forked child; never returns.
[[noreturn]] void exec_new_master(const ProgramImage& image, const Listener& listener,
                                  int ready_write) {
  export_listener_for_exec(listener);
  ::fcntl(ready_write, F_SETFD, 0);
  ::setenv(kReadyVar, std::to_string(ready_write).c_str(), 1);
  pass_watchdog_to(::getpid());
  std::vector<char*> argv;
  for (const std::string& a : image.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(image.path.c_str(), argv.data());
  const std::string message =
      "cofcgi: reload: exec " + image.path + ": " + std::strerror(errno) + "\n";
  (void)!::write(2, message.data(), message.size());
  ::_exit(127);
}

}  // namespace

ProgramImage current_program() {
  ProgramImage image;
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) fail("readlink /proc/self/exe");
  image.path.assign(path, static_cast<std::size_t>(n));
  std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(cmdline)),
                        std::istreambuf_iterator<char>());
  std::string arg;
  for (char c : all) {
    if (c != '\0') {
      arg += c;
      continue;
    }
    image.argv.push_back(arg);
    arg.clear();
  }
  if (image.argv.empty()) image.argv.push_back(image.path);
  return image;
}

NewMaster start_new_master(const ProgramImage& image, const Listener& listener) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail("pipe");
  co::UniqueFd read_end(fds[0]);
  co::UniqueFd write_end(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) fail("fork");
  if (pid == 0) exec_new_master(image, listener, write_end.get());
  NewMaster master;
  master.pid = pid;
  master.ready = std::move(read_end);
  return master;
}

co::UniqueFd take_reload_ready_fd() {
  const char* text = std::getenv(kReadyVar);
  const int fd = text != nullptr ? std::atoi(text) : -1;
  ::unsetenv(kReadyVar);
  if (fd < 3 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return co::UniqueFd();
  return co::UniqueFd(fd);
}

void announce_serving(co::UniqueFd& ready) {
  if (!ready) return;
  const char byte = 'R';
  (void)!::write(ready.get(), &byte, 1);
  ready.reset();
}

}  // namespace co::cgi::detail
