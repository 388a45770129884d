// CgiHostServer: a private CGI host -- lighttpd with mod_cgi or Apache with mod_cgid -- for
// tests and benchmarks, owned by the process that starts it, in the style of nginx_server.h.
// No system service, no /etc/lighttpd or /etc/apache2: Debian's binaries with a config
// written into a temp dir.
//
//   cofcgi_test::CgiHostOptions o;
//   o.host = cofcgi_test::CgiHost::apache;
//   o.programs = {{"hello", "/path/to/examples/hello"}};      // cgi-bin/hello -> the binary
//   o.scripts = {{"small", "exec /path/echo --max-body 1024"}};  // cgi-bin/small, a /bin/sh
//   cofcgi_test::CgiHostServer host(o);  // makes the temp dir, cgi-bin/ and the config
//   host.start();                        // runs it on 127.0.0.1:<free port>, waits until
//                                        // it accepts connections
//   ... HTTP to host.host():host.port(), "/cgi-bin/hello?x=1" ...
//   host.stop();                         // SIGTERM, SIGKILL to the group after stop_timeout
//
// lighttpd (lighttpd.conf): `lighttpd -D`, mod_alias + mod_cgi, `alias.url` maps /cgi-bin/ to
// the temp dir's cgi-bin/ and `cgi.assign = ("" => "")` runs every file there as a program;
// it buffers the whole request body before it starts the program. Runs as the test's user.
//
// Apache (httpd.conf): `apache2 -DFOREGROUND`, mpm_event + mod_cgid (the CGI daemon Debian
// enables by default), ScriptAlias /cgi-bin/. Apache refuses to serve as root: when the test
// runs as root the workers (and the CGI programs) run as `www-data` (User/Group), and the temp
// dir is made 0755 so they can reach cgi-bin/. The programs are copied into the temp dir's
// bin/ with the project libraries they load (lib/, found through LD_LIBRARY_PATH), so a build
// tree www-data cannot reach (a clone in /root) still works. mod_cgid writes the whole request
// body into the program's stdin before it reads any of its stdout.
//
// Both: error log, pid file and runtime files in the temp dir; a host request body limit
// (max_request_body) well over the apps' so that a 413 comes from the app. The host is started
// in its own process group with PR_SET_PDEATHSIG=SIGKILL and the group is killed at exit;
// groups of owners that died (a CTest timeout) are killed by the next CgiHostServer made with
// the same TMPDIR.
//
// Environment: COFCGI_CGI_HOST_KEEP=1 (keep the temp dir), TMPDIR (where it goes).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cofcgi_test {

enum class CgiHost { lighttpd, apache };

struct CgiHostOptions {
  CgiHost host = CgiHost::lighttpd;
  // cgi-bin/NAME as a symlink to an executable.
  std::vector<std::pair<std::string, std::string>> programs;
  // cgi-bin/NAME as "#!/bin/sh\n" + the text (a program with arguments: CGI passes none).
  std::vector<std::pair<std::string, std::string>> scripts;
  std::size_t max_request_body = 64 * 1024 * 1024;
  std::chrono::seconds start_timeout{20};
  std::chrono::seconds stop_timeout{10};
};

class CgiHostServerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CgiHostServer {
 public:
  explicit CgiHostServer(CgiHostOptions options);
  ~CgiHostServer();
  CgiHostServer(const CgiHostServer&) = delete;
  CgiHostServer& operator=(const CgiHostServer&) = delete;

  // start writes the config, runs the host on a free loopback port and waits until it accepts
  // connections (a port taken in between is retried). Throws CgiHostServerError with the
  // error log's tail. No-op when running.
  void start();
  void stop();
  bool running() const { return pid_ > 0; }

  const char* name() const { return options_.host == CgiHost::apache ? "apache" : "lighttpd"; }
  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string conf_path() const;
  std::string error_log_path() const { return dir_ + "/error.log"; }
  std::string error_log_tail(std::size_t lines = 30) const;

  // binary: the host's executable (lighttpd, apache2 in PATH or /usr/sbin); empty when there
  // is none.
  static std::string binary(CgiHost host);

 private:
  void write_config() const;
  [[noreturn]] void fail(const std::string& what);
  bool reap(bool block, int* status);

  CgiHostOptions options_;
  std::string dir_, host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace cofcgi_test
