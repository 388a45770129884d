// Small helpers shared by the hooks tests: a stopwatch on the monotonic clock, an owned fd,
// loopback listeners. Nothing here goes around the hooks: every call is the interposed one.
#pragma once

#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "cofcgi/runtime.h"
#include "cofcgi/runtime/unique_fd.h"

namespace hooks_test {

// kSlack scales the upper time bounds of the concurrency checks: 1 in normal and ASan builds,
// more under ThreadSanitizer, whose every switch and syscall is many times slower. Every
// bound times kSlack stays well below what the same work takes when calls block the thread.
#if defined(__SANITIZE_THREAD__)
inline constexpr double kSlack = 2.5;
#else
inline constexpr double kSlack = 1.0;
#endif

inline double seconds_since(co::Deadline start) {
  return static_cast<double>(co::now_ns() - start) / 1e9;
}

// Ticker counts 10 ms naps while `running`: proof that the thread was free.
struct Ticker {
  int ticks = 0;
  bool running = true;
  void start() {
    co::go([this] {
      while (running) {
        ::usleep(10'000);
        ++ticks;
      }
    });
  }
};

// Fd: the runtime's public fd owner (closing drops the netpoller registration first; in a
// hooked process close() is the hooks' close).
using Fd = co::UniqueFd;

struct Pair {
  Fd a, b;
};

// socket_pair makes a blocking AF_UNIX stream pair (or datagram/seqpacket with `type`).
inline Pair socket_pair(int type = SOCK_STREAM) {
  int sv[2] = {-1, -1};
  REQUIRE(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) == 0);
  return Pair{Fd(sv[0]), Fd(sv[1])};
}

inline Pair pipe_pair() {
  int p[2] = {-1, -1};
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  return Pair{Fd(p[0]), Fd(p[1])};
}

inline sockaddr_in loopback(std::uint16_t port_host_order) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port_host_order);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// tcp_listener listens on 127.0.0.1 on a kernel-chosen port; *port receives it.
inline Fd tcp_listener(std::uint16_t* port, int backlog = 512, int extra_type = 0) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | extra_type, 0));
  REQUIRE(fd);
  const int one = 1;
  REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
  sockaddr_in a = loopback(0);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd.get(), backlog) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  *port = ntohs(a.sin_port);
  return fd;
}

// A unix socket path in /tmp, unique to this process and `tag`, removed on destruction.
class UnixPath {
 public:
  explicit UnixPath(const char* tag) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "/tmp/cofcgi-hooks-%d-%s.sock", static_cast<int>(::getpid()),
                  tag);
    path_ = buf;
    ::unlink(path_.c_str());
  }
  ~UnixPath() { ::unlink(path_.c_str()); }
  const char* c_str() const { return path_.c_str(); }
  sockaddr_un addr() const {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    return a;
  }

 private:
  std::string path_;
};

inline Fd unix_listener(const UnixPath& path, int backlog = 512) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_un a = path.addr();
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd.get(), backlog) == 0);
  return fd;
}

// write_all / read_exact: loops over short counts (blocking semantics expected).
inline bool write_all(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// run_command runs a shell command (popen) and returns its stdout; *status gets pclose's
// status (0: exited 0).
inline std::string run_command(const std::string& command, int* status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) {
    *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = ::pclose(p);
  return out;
}

inline bool read_exact(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace hooks_test
