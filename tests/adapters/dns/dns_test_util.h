// Helpers shared by the DNS adapter tests: glibc's own resolver functions to compare with,
// a network namespace of our own when the kernel allows one, temporary configuration files,
// pointing the coroutine resolver at a test responder, and printing results.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <functional>
#include <string>
#include <vector>

#include "cofcgi/runtime.h"

namespace dns_test {

// glibc's functions, found in libc.so.6 itself (the names in the global scope are ours).
struct Glibc {
  int (*getaddrinfo)(const char*, const char*, const addrinfo*, addrinfo**);
  void (*freeaddrinfo)(addrinfo*);
  int (*gethostbyname_r)(const char*, hostent*, char*, size_t, hostent**, int*);
  int (*gethostbyname2_r)(const char*, int, hostent*, char*, size_t, hostent**, int*);
  int (*getnameinfo)(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int);
  int (*gethostbyaddr_r)(const void*, socklen_t, int, hostent*, char*, size_t, hostent**, int*);
  int (*res_query)(const char*, int, int, unsigned char*, int);
  int (*res_search)(const char*, int, int, unsigned char*, int);
};
const Glibc& glibc();

// isolate_network moves the process into a network namespace of its own with only a
// loopback interface, once (unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN; false without). A
// safety net: no test packet could reach a real name server even through a bug.
bool isolate_network();

// safe_to_resolve: lookups of non-local names in coroutines can only reach the test
// responder: isolated, or the hosts line of nsswitch.conf is "files dns" (other sources send
// lookups to glibc, i.e. to the system's name servers).
bool safe_to_resolve();

// A file in /tmp, removed when this goes.
class TempFile {
 public:
  TempFile(const std::string& tag, const std::string& content);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  // rewrite replaces the content (a new inode-independent version: size and mtime change).
  void rewrite(const std::string& content);

 private:
  std::string path_;
};

// ResolverEnv points the coroutine resolver at `servers` ("127.0.0.1:PORT,...") with a
// resolv.conf holding `resolv_conf` (search, options) through COFCGI_DNS_SERVERS and
// COFCGI_RESOLV_CONF, and restores the environment when it goes.
class ResolverEnv {
 public:
  ResolverEnv(const std::string& servers, const std::string& resolv_conf);
  ~ResolverEnv();
  ResolverEnv(const ResolverEnv&) = delete;
  ResolverEnv& operator=(const ResolverEnv&) = delete;
  TempFile& file() { return file_; }

 private:
  TempFile file_;
};

// in_coroutine runs fn in a coroutine (hooks on) and drives the scheduler until it is done.
void in_coroutine(const std::function<void()>& fn);

// One line per entry: "family socktype protocol address port [canonname]".
std::string describe(const addrinfo* ai);
// "name=...; aliases=a,b; type=..; addrs=x,y".
std::string describe(const hostent* h);

// The test zone's addresses of hN.test: A 10.0.N/256.N%256, AAAA fd00::1:N (hex).
std::string v4_of(unsigned n);
std::string v6_of(unsigned n);

double seconds_since(std::int64_t start_ns);

}  // namespace dns_test
