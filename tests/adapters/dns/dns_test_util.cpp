#include "dns_test_util.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace dns_test {

const Glibc& glibc() {
  static const Glibc g = [] {
    void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (libc == nullptr) throw std::runtime_error("libc.so.6 not loaded");
    Glibc r{};
    r.getaddrinfo = reinterpret_cast<decltype(r.getaddrinfo)>(::dlsym(libc, "getaddrinfo"));
    r.freeaddrinfo = reinterpret_cast<decltype(r.freeaddrinfo)>(::dlsym(libc, "freeaddrinfo"));
    r.gethostbyname_r =
        reinterpret_cast<decltype(r.gethostbyname_r)>(::dlsym(libc, "gethostbyname_r"));
    r.gethostbyname2_r =
        reinterpret_cast<decltype(r.gethostbyname2_r)>(::dlsym(libc, "gethostbyname2_r"));
    r.getnameinfo = reinterpret_cast<decltype(r.getnameinfo)>(::dlsym(libc, "getnameinfo"));
    r.gethostbyaddr_r =
        reinterpret_cast<decltype(r.gethostbyaddr_r)>(::dlsym(libc, "gethostbyaddr_r"));
    r.res_query = reinterpret_cast<decltype(r.res_query)>(::dlsym(libc, "res_query"));
    r.res_search = reinterpret_cast<decltype(r.res_search)>(::dlsym(libc, "res_search"));
    return r;
  }();
  return g;
}

bool isolate_network() {
  static bool isolated = false;
  static std::once_flag once;
  std::call_once(once, [] {
    if (::unshare(CLONE_NEWNET) != 0) return;
    // A new namespace's loopback starts down.
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      ifreq ifr{};
      std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
      if (::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        (void)::ioctl(fd, SIOCSIFFLAGS, &ifr);
      }
      ::close(fd);
    }
    isolated = true;
  });
  return isolated;
}

bool safe_to_resolve() {
  if (isolate_network()) return true;
  std::ifstream in("/etc/nsswitch.conf");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("hosts:", 0) != 0) continue;
    std::istringstream words(line.substr(6));
    std::string w, joined;
    while (words >> w) joined += (joined.empty() ? "" : " ") + w;
    return joined == "files dns";
  }
  return false;
}

TempFile::TempFile(const std::string& tag, const std::string& content) {
  static int counter = 0;
  path_ =
      "/tmp/cofcgi-dns-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "-" + tag;
  rewrite(content);
}

TempFile::~TempFile() { ::unlink(path_.c_str()); }

void TempFile::rewrite(const std::string& content) {
  const std::string tmp = path_ + ".new";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
  }
  // Same path, new inode: a change every stat-based cache sees at once.
  ::rename(tmp.c_str(), path_.c_str());
}

ResolverEnv::ResolverEnv(const std::string& servers, const std::string& resolv_conf)
    : file_("resolv.conf", resolv_conf) {
  ::setenv("COFCGI_RESOLV_CONF", file_.path().c_str(), 1);
  ::setenv("COFCGI_DNS_SERVERS", servers.c_str(), 1);
}

ResolverEnv::~ResolverEnv() {
  ::unsetenv("COFCGI_RESOLV_CONF");
  ::unsetenv("COFCGI_DNS_SERVERS");
}

void in_coroutine(const std::function<void()>& fn) {
  co::go([&fn] { fn(); });
  co::run();
}

std::string describe(const addrinfo* ai) {
  std::string out;
  for (; ai != nullptr; ai = ai->ai_next) {
    char addr[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    unsigned scope = 0;
    if (ai->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      ::inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof addr);
      port = ntohs(sin->sin_port);
    } else if (ai->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      ::inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof addr);
      port = ntohs(sin6->sin6_port);
      scope = sin6->sin6_scope_id;
    }
    char line[256];
    std::snprintf(line, sizeof line, "%s %d %d %s %u%s%s flags=%#x len=%u%s\n",
                  ai->ai_family == AF_INET    ? "inet"
                  : ai->ai_family == AF_INET6 ? "inet6"
                                              : "?",
                  ai->ai_socktype, ai->ai_protocol, addr, port, scope ? " scope=" : "",
                  scope ? std::to_string(scope).c_str() : "", ai->ai_flags,
                  static_cast<unsigned>(ai->ai_addrlen),
                  ai->ai_canonname ? (std::string(" canon=") + ai->ai_canonname).c_str() : "");
    out += line;
  }
  return out;
}

std::string describe(const hostent* h) {
  if (h == nullptr) return "(null)";
  std::string out = "name=" + std::string(h->h_name ? h->h_name : "(null)") + "; aliases=";
  for (char** a = h->h_aliases; a && *a; ++a) out += std::string(*a) + ",";
  out += "; type=" + std::to_string(h->h_addrtype) + "; len=" + std::to_string(h->h_length) +
         "; addrs=";
  for (char** a = h->h_addr_list; a && *a; ++a) {
    char buf[INET6_ADDRSTRLEN];
    ::inet_ntop(h->h_addrtype, *a, buf, sizeof buf);
    out += std::string(buf) + ",";
  }
  return out;
}

std::string v4_of(unsigned n) {
  return "10.0." + std::to_string(n / 256) + "." + std::to_string(n % 256);
}

std::string v6_of(unsigned n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "fd00::1:%x", n);
  return buf;
}

double seconds_since(std::int64_t start_ns) {
  return static_cast<double>(co::now_ns() - start_ns) / 1e9;
}

}  // namespace dns_test
