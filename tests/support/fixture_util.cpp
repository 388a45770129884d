#include "fixture_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

namespace cofcgi_test {
namespace {

std::mutex& live_mutex() {
  static std::mutex m;
  return m;
}
std::set<pid_t>& live_groups() {
  static std::set<pid_t>* groups = new std::set<pid_t>;  // never destroyed: used from atexit
  return *groups;
}
void kill_live_groups() {
  std::lock_guard<std::mutex> lock(live_mutex());
  for (pid_t pgid : live_groups()) {
    ::kill(-pgid, SIGKILL);
    ::kill(pgid, SIGKILL);  // in case it exited before setpgid: its own pid then
  }
  live_groups().clear();
}

}  // namespace

void track_process_group(pid_t pgid) {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(kill_live_groups); });
  std::lock_guard<std::mutex> lock(live_mutex());
  live_groups().insert(pgid);
}

void untrack_process_group(pid_t pgid) {
  std::lock_guard<std::mutex> lock(live_mutex());
  live_groups().erase(pgid);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::uint16_t pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::runtime_error(std::string("bind port 0: ") + std::strerror(e));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string describe_status(int status) {
  char buf[64];
  if (WIFEXITED(status)) {
    std::snprintf(buf, sizeof buf, "exited with %d", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    std::snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(status));
  } else {
    std::snprintf(buf, sizeof buf, "status %d", status);
  }
  return buf;
}

}  // namespace cofcgi_test
