// NginxServer: a private nginx in front of a FastCGI upstream, for tests and benchmarks,
// owned by the process that starts it. No system service, no /etc/nginx: Debian's
// /usr/sbin/nginx with a config written into a temp dir.
//
//   cofcgi_test::NginxServerOptions o;
//   o.upstream = "127.0.0.1:9000";      // or "unix:/path/app.sock"
//   cofcgi_test::NginxServer nginx(o);  // makes the temp dir and writes nginx.conf
//   nginx.start();                      // runs nginx on 127.0.0.1:<free port>, waits until
//                                       // it accepts connections
//   ... HTTP to nginx.host():nginx.port() ...
//   nginx.stop();                       // SIGQUIT (graceful), SIGKILL after stop_timeout
//   // ~NginxServer: stops it and removes the temp dir.
//
// The config: `daemon off; master_process on; worker_processes N;`, error_log, access_log,
// pid file and every *_temp_path inside the temp dir; `user root;` when run as root (the
// temp dir is 0700, workers running as nobody could not use it); one server on the free
// port whose `location /` does `fastcgi_pass` to an `upstream` block (with `keepalive N`
// and `fastcgi_keep_conn on` unless disabled), Debian's fastcgi_params plus SCRIPT_NAME.
//
// nginx never outlives the test by much: the master is started with
// PR_SET_PDEATHSIG=SIGKILL in its own process group; the destructor and an atexit handler
// kill the whole group. Workers do NOT die with a SIGKILLed master (nginx 1.22 keeps them
// running), so when the test process itself is SIGKILLed (a CTest timeout) a worker may be
// left behind: the group id is recorded in the temp dir, and the next NginxServer created
// with the same TMPDIR kills the groups of dead owners and removes their dirs.
//
// Environment: COFCGI_NGINX (path of nginx), COFCGI_NGINX_KEEP=1 (keep the temp dir),
// TMPDIR (where the temp dir goes).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace cofcgi_test {

struct NginxServerOptions {
  // The FastCGI application: "HOST:PORT" or "unix:PATH".
  std::string upstream;
  // `keepalive N` in the upstream block (idle connections nginx keeps per worker); 0 leaves
  // it out, so every request opens a new upstream connection.
  int keepalive = 16;
  // `fastcgi_keep_conn on` (sets FCGI_KEEP_CONN); needed for keepalive to take effect.
  bool keep_conn = true;
  int worker_processes = 1;
  std::string client_max_body_size = "64m";
  bool request_buffering = true;     // fastcgi_request_buffering
  std::string read_timeout = "60s";  // fastcgi_read_timeout / send_timeout
  // Extra directives, verbatim, inside `http {}`, `server {}` and `location / {}`.
  std::string extra_http;
  std::string extra_server;
  std::string extra_location;
  std::chrono::seconds start_timeout{20};
  std::chrono::seconds stop_timeout{10};
};

class NginxServerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class NginxServer {
 public:
  explicit NginxServer(NginxServerOptions options);
  ~NginxServer();
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  // start writes nginx.conf, runs nginx on a free loopback port and waits until it accepts
  // connections; a port taken in between is retried with another. Throws NginxServerError
  // (with the error log's tail). No-op when running.
  void start();
  // stop asks for a graceful stop (SIGQUIT) and waits; SIGKILLs the group after
  // stop_timeout. No-op when not running.
  void stop();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  const std::string& host() const { return host_; }  // "127.0.0.1"
  std::uint16_t port() const { return port_; }
  // url("/x?y=1") is "http://127.0.0.1:PORT/x?y=1".
  std::string url(const std::string& path = "/") const;

  const std::string& dir() const { return dir_; }
  std::string conf_path() const { return dir_ + "/nginx.conf"; }
  std::string error_log_path() const { return dir_ + "/error.log"; }
  // access_log: "$status $request_method $request_uri $upstream_addr
  // $upstream_connect_time $upstream_response_time $request_time $bytes_sent"
  std::string access_log_path() const { return dir_ + "/access.log"; }
  std::string error_log_tail(std::size_t lines = 30) const;

  // nginx_path is the binary used ($COFCGI_NGINX, else nginx in PATH or /usr/sbin); empty
  // when there is none.
  static std::string nginx_path();

 private:
  void write_config() const;
  [[noreturn]] void fail(const std::string& what);
  bool reap(bool block, int* status);

  NginxServerOptions options_;
  std::string dir_, host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace cofcgi_test
