#include "fixture_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

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

pid_t spawn_logged(const std::vector<std::string>& args, const std::string& log,
                   const std::string& input) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::setpgid(0, 0);
    const int in = ::open(input.empty() ? "/dev/null" : input.c_str(), O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // both sides set it: no window where kill(-pid) misses
  return pid;
}

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

bool accepts_connections(const std::string& host, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

bool reap_group(pid_t* pgid, bool block, int* status) {
  if (*pgid <= 0) return true;
  for (;;) {
    const pid_t r = ::waitpid(*pgid, status, block ? 0 : WNOHANG);
    if (r == 0) return false;
    if (r < 0 && errno == EINTR) continue;
    ::kill(-*pgid, SIGKILL);  // what is left of the group (workers, helpers)
    untrack_process_group(*pgid);
    *pgid = -1;
    return true;
  }
}

void stop_group(pid_t* pgid, int signal, std::chrono::seconds timeout) {
  if (*pgid <= 0) return;
  ::kill(*pgid, signal);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (!reap_group(pgid, false, &status)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-*pgid, SIGKILL);
      reap_group(pgid, true, &status);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
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

void remove_stale_dirs(const std::filesystem::path& tmp, const std::string& prefix,
                       const std::function<void(const std::filesystem::path&)>& kill_leftovers) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(tmp, ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) != 0) continue;
    std::ifstream in(entry.path() / "owner.pid");
    long owner = 0;
    if (!(in >> owner) || owner <= 0) continue;
    if (::kill(static_cast<pid_t>(owner), 0) == 0 || errno != ESRCH) continue;
    kill_leftovers(entry.path());
    std::filesystem::remove_all(entry.path(), ec);
  }
}

std::string file_tail(const std::string& path, std::size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += "  " + l + "\n";
  return out;
}

}  // namespace cofcgi_test
