#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "io.h"

namespace co::cgi::detail {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// A unix socket file nobody accepts on is left over from a dead process: safe to remove.
bool stale_unix_socket(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  if (!S_ISSOCK(st.st_mode)) {
    errno = EEXIST;
    fail("listen path " + path + " exists and is not a socket");
  }
  const co::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const bool live = ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (live) {
    errno = EADDRINUSE;
    fail("another process is serving on " + path);
  }
  return true;
}

// user_id/group_id: a name from the passwd/group database, or a number.
uid_t user_id(const std::string& name) {
  char* end = nullptr;
  const unsigned long n = std::strtoul(name.c_str(), &end, 10);
  if (!name.empty() && *end == '\0') return static_cast<uid_t>(n);
  const passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) throw std::invalid_argument("unix socket owner: no user named '" + name + "'");
  return pw->pw_uid;
}

gid_t group_id(const std::string& name) {
  char* end = nullptr;
  const unsigned long n = std::strtoul(name.c_str(), &end, 10);
  if (!name.empty() && *end == '\0') return static_cast<gid_t>(n);
  const group* gr = ::getgrnam(name.c_str());
  if (gr == nullptr)
    throw std::invalid_argument("unix socket group: no group named '" + name + "'");
  return gr->gr_gid;
}

// set_owner gives the socket file the configured owner and group (php-fpm's listen.owner and
// listen.group), before listen(): nobody can connect with the wrong permissions.
void set_owner(const std::string& path, const ServerOptions& options) {
  if (options.unix_socket_owner.empty() && options.unix_socket_group.empty()) return;
  const uid_t uid = options.unix_socket_owner.empty() ? static_cast<uid_t>(-1)
                                                      : user_id(options.unix_socket_owner);
  const gid_t gid = options.unix_socket_group.empty() ? static_cast<gid_t>(-1)
                                                      : group_id(options.unix_socket_group);
  if (::chown(path.c_str(), uid, gid) != 0) fail("chown " + path);
}

Listener listen_unix(const std::string& path, const ServerOptions& options) {
  Listener l;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    fail("unix socket path too long: " + path);
  }
  if (stale_unix_socket(path)) ::unlink(path.c_str());
  l.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l.fd) fail("socket");
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  // Create the file with the requested mode from the start (no window where it is open).
  const mode_t old_mask = ::umask(static_cast<mode_t>(~options.unix_socket_mode & 0777));
  const int r = ::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (r != 0) fail("bind " + path);
  if (::chmod(path.c_str(), options.unix_socket_mode) != 0) fail("chmod " + path);
  set_owner(path, options);
  if (::listen(l.fd.get(), options.backlog) != 0) fail("listen " + path);
  l.bound = "unix:" + path;
  l.unix_path = path;
  return l;
}

// A TCP address to bind: family, sockaddr and its length.
struct TcpAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
};

// split_host_port reads "HOST:PORT" or "[V6]:PORT".
void split_host_port(const std::string& spec, std::string* host, std::string* port) {
  if (!spec.empty() && spec[0] == '[') {
    const std::size_t close = spec.find(']');
    if (close == std::string::npos || close + 1 >= spec.size() || spec[close + 1] != ':') {
      errno = EINVAL;
      fail("bad listen address " + spec);
    }
    *host = spec.substr(1, close - 1);
    *port = spec.substr(close + 2);
    return;
  }
  const std::size_t colon = spec.rfind(':');
  if (colon == std::string::npos) {
    errno = EINVAL;
    fail("listen address needs HOST:PORT or unix:PATH: " + spec);
  }
  *host = spec.substr(0, colon);
  *port = spec.substr(colon + 1);
}

// parse_tcp_address: numeric hosts only (and "localhost", "*", ""): the server must not
// depend on name resolution to start.
TcpAddress parse_tcp_address(const std::string& spec) {
  std::string host, port;
  split_host_port(spec, &host, &port);
  char* end = nullptr;
  const long port_number = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || port_number < 0 || port_number > 65535) {
    errno = EINVAL;
    fail("bad port in " + spec);
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  TcpAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port_number));
    a.length = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    a.family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port_number));
    a.length = sizeof *v6;
  } else {
    errno = EINVAL;
    fail("listen host must be a numeric address: " + host);
  }
  return a;
}

// bound_text: where the socket really listens (the port the kernel chose for ":0").
std::string bound_text(int fd, int family) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
  return "[" + std::string(text) + "]:" + std::to_string(ntohs(v6->sin6_port));
}

Listener listen_tcp(const std::string& spec, const ServerOptions& options) {
  const TcpAddress address = parse_tcp_address(spec);
  Listener l;
  l.fd.reset(::socket(address.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l.fd) fail("socket");
  const int one = 1;
  ::setsockopt(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(l.fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) !=
      0) {
    fail("bind " + spec);
  }
  if (::listen(l.fd.get(), options.backlog) != 0) fail("listen " + spec);
  l.bound = bound_text(l.fd.get(), address.family);
  l.is_tcp = true;
  return l;
}

}  // namespace

bool fd0_is_listening_socket(int* family) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  int accepting = 0;
  socklen_t alen = sizeof accepting;
  const bool listening = ::getsockname(0, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
                         ::getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen) == 0 &&
                         accepting;
  if (family != nullptr) *family = addr.ss_family;
  return listening;
}

Listener open_listener(const ServerOptions& options) {
  static const std::string kDefaultListen = "127.0.0.1:9000";
  const std::string& spec = options.listen;
  if (spec.rfind("unix:", 0) == 0) return listen_unix(spec.substr(5), options);
  if (!spec.empty() && spec != "fd:0") return listen_tcp(spec, options);
  // FCGI_LISTENSOCK_FILENO: a listening socket on fd 0, as spawn-fcgi and `cgi-fcgi -start`
  // pass it. With no address given and no such socket, the default address.
  Listener l;
  int family = AF_UNSPEC;
  if (!fd0_is_listening_socket(&family)) {
    if (spec == "fd:0") {
      errno = ENOTSOCK;
      fail("--listen fd:0 but fd 0 is not a listening socket");
    }
    return listen_tcp(kDefaultListen, options);
  }
  l.fd.reset(::fcntl(0, F_DUPFD_CLOEXEC, 3));
  if (!l.fd || !set_nonblocking(l.fd.get())) fail("adopting fd 0");
  l.is_tcp = family == AF_INET || family == AF_INET6;
  l.bound = "fd:0";
  return l;
}

Listener adopt_listener(int fd, const std::string& label) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  int accepting = 0;
  socklen_t alen = sizeof accepting;
  const bool is_socket = ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
                         ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen) == 0;
  if (!is_socket || !accepting) {
    if (is_socket) errno = EINVAL;
    fail(label + ": fd " + std::to_string(fd) + " is not a listening socket");
  }
  Listener l;
  l.fd.reset(fd);
  if (!set_nonblocking(fd) || ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) fail("adopting " + label);
  l.is_tcp = addr.ss_family == AF_INET || addr.ss_family == AF_INET6;
  if (l.is_tcp) {
    l.bound = bound_text(fd, addr.ss_family);
  } else if (addr.ss_family == AF_UNIX && len > sizeof(sa_family_t) &&
             reinterpret_cast<const sockaddr_un&>(addr).sun_path[0] != '\0') {
    l.bound = std::string("unix:") + reinterpret_cast<const sockaddr_un&>(addr).sun_path;
  } else {
    l.bound = label;
  }
  return l;
}

}  // namespace co::cgi::detail
