// See nginx_server.h.
#include "nginx_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "fixture_util.h"

namespace fs = std::filesystem;

namespace cofcgi_test {
namespace {

using Clock = std::chrono::steady_clock;

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// kill_stale_group SIGKILLs the processes of group `pgid` that are nginx (the id may have
// been reused since it was recorded: nothing else is touched).
void kill_stale_group(long pgid) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // "pid (comm) state ppid pgrp ...": comm may hold blanks, so split after the last ')'.
    const std::size_t open = stat.find('(');
    const std::size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    const std::string comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    long ppid = 0, pgrp = 0;
    if (!(rest >> state >> ppid >> pgrp)) continue;
    if (pgrp == pgid && comm == "nginx") ::kill(static_cast<pid_t>(std::stol(name)), SIGKILL);
  }
}

// Temp dirs whose owner died without cleaning up (SIGKILL by a CTest timeout): their nginx
// group (workers outlive a SIGKILLed master) is killed before the dir is removed.
void kill_stale_nginx(const fs::path& dir) {
  std::ifstream group(dir / "nginx.pgid");
  long pgid = 0;
  if (group >> pgid && pgid > 1) kill_stale_group(pgid);
}

}  // namespace

std::string NginxServer::nginx_path() {
  if (const char* env = std::getenv("COFCGI_NGINX"); env && *env) return env;
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  for (const char* d : {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin"})
    dirs.emplace_back(d);
  for (const auto& d : dirs) {
    if (executable(d + "/nginx")) return d + "/nginx";
  }
  return {};
}

NginxServer::NginxServer(NginxServerOptions options) : options_(std::move(options)) {
  if (options_.upstream.empty()) throw NginxServerError("nginx fixture: no upstream given");
  const char* tmpdir = std::getenv("TMPDIR");
  fs::path tmp = (tmpdir && *tmpdir) ? tmpdir : "/tmp";
  remove_stale_dirs(tmp, "cofcgi-nginx-", kill_stale_nginx);
  std::string templ = (tmp / "cofcgi-nginx-XXXXXX").string();
  if (!::mkdtemp(templ.data()))
    throw NginxServerError("mkdtemp " + templ + ": " + std::strerror(errno));
  dir_ = templ;
  fs::create_directories(dir_ + "/tmp");
  std::ofstream(dir_ + "/owner.pid") << ::getpid() << "\n";
}

NginxServer::~NginxServer() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    reap(true, &status);
  }
  const char* keep = std::getenv("COFCGI_NGINX_KEEP");
  if (!(keep && *keep == '1')) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string NginxServer::url(const std::string& path) const {
  return "http://" + host_ + ":" + std::to_string(port_) + path;
}

std::string NginxServer::error_log_tail(std::size_t lines) const {
  return file_tail(error_log_path(), lines);
}

void NginxServer::fail(const std::string& what) {
  throw NginxServerError("nginx fixture (" + dir_ + "): " + what + "\n--- " + error_log_path() +
                         " (tail) ---\n" + error_log_tail());
}

void NginxServer::write_config() const {
  std::string upstream = options_.upstream;
  if (upstream.rfind("unix:", 0) != 0 && upstream.find(':') == std::string::npos) {
    throw NginxServerError("nginx fixture: upstream must be HOST:PORT or unix:PATH, got " +
                           upstream);
  }
  const std::string& d = dir_;
  std::ostringstream c;
  if (::geteuid() == 0) c << "user root;\n";  // workers must reach the 0700 temp dir
  c << "daemon off;\n"
    << "master_process on;\n"
    << "worker_processes " << options_.worker_processes << ";\n"
    << "pid " << d << "/nginx.pid;\n"
    << "error_log " << d << "/error.log info;\n"
    << "worker_rlimit_nofile 8192;\n"
    << "events { worker_connections 4096; }\n"
    << "http {\n"
    << "  default_type application/octet-stream;\n"
    << "  log_format cofcgi '$status $request_method $request_uri $upstream_addr '\n"
    << "                    '$upstream_connect_time $upstream_response_time $request_time "
       "$bytes_sent';\n"
    << "  access_log " << d << "/access.log cofcgi;\n"
    << "  client_body_temp_path " << d << "/tmp/client_body;\n"
    << "  proxy_temp_path " << d << "/tmp/proxy;\n"
    << "  fastcgi_temp_path " << d << "/tmp/fastcgi;\n"
    << "  uwsgi_temp_path " << d << "/tmp/uwsgi;\n"
    << "  scgi_temp_path " << d << "/tmp/scgi;\n"
    << "  client_max_body_size " << options_.client_max_body_size << ";\n"
    << "  keepalive_requests 100000;\n"
    << options_.extra_http << "\n"
    << "  upstream cofcgi_app {\n"
    << "    server " << upstream << ";\n";
  if (options_.keepalive > 0) {
    c << "    keepalive " << options_.keepalive << ";\n"
      << "    keepalive_requests 100000;\n";
  }
  c << "  }\n"
    << "  server {\n"
    << "    listen " << host_ << ":" << port_ << ";\n"
    << "    server_name localhost;\n"
    << options_.extra_server << "\n"
    << "    location / {\n"
    << "      include /etc/nginx/fastcgi_params;\n"
    << "      fastcgi_param SCRIPT_NAME $fastcgi_script_name;\n"
    << "      fastcgi_pass cofcgi_app;\n"
    << "      fastcgi_keep_conn " << (options_.keep_conn ? "on" : "off") << ";\n"
    << "      fastcgi_request_buffering " << (options_.request_buffering ? "on" : "off") << ";\n"
    << "      fastcgi_read_timeout " << options_.read_timeout << ";\n"
    << "      fastcgi_send_timeout " << options_.read_timeout << ";\n"
    << options_.extra_location << "\n"
    << "    }\n"
    << "  }\n"
    << "}\n";
  std::ofstream out(conf_path(), std::ios::trunc);
  out << c.str();
  if (!out) throw NginxServerError("nginx fixture: cannot write " + conf_path());
}

bool NginxServer::reap(bool block, int* status) { return reap_group(&pid_, block, status); }

void NginxServer::start() {
  if (pid_ > 0) return;
  const std::string nginx = nginx_path();
  if (nginx.empty()) {
    throw NginxServerError(
        "nginx not found (install Debian's nginx, see scripts/lib/apt-packages.txt, or set "
        "COFCGI_NGINX)");
  }
  const std::string conf = conf_path();
  const std::string err = error_log_path();
  const std::string out_log = dir_ + "/nginx.out";
  for (int attempt = 0;; ++attempt) {
    port_ = pick_free_port();
    write_config();
    std::vector<std::string> args = {nginx, "-p", dir_ + "/", "-c", conf, "-e", err};
    const pid_t pid = spawn_logged(args, out_log);
    pid_ = pid;
    track_process_group(pid);
    std::ofstream(dir_ + "/nginx.pgid") << pid << "\n";

    const auto deadline = Clock::now() + options_.start_timeout;
    bool retry = false;
    for (;;) {
      if (accepts_connections(host_, port_)) return;
      int status = 0;
      if (reap(false, &status)) {
        const std::string log = read_file(err) + read_file(out_log);
        if (attempt < 5 && log.find("Address already in use") != std::string::npos) {
          retry = true;  // someone took the port between pick_free_port() and nginx's bind
          break;
        }
        fail("nginx " + describe_status(status) + " before accepting connections\n" +
             read_file(out_log));
      }
      if (Clock::now() >= deadline) {
        ::kill(-pid_, SIGKILL);
        reap(true, &status);
        fail("nginx did not accept connections within " +
             std::to_string(options_.start_timeout.count()) + " s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!retry) break;
  }
}

void NginxServer::stop() { stop_group(&pid_, SIGQUIT, options_.stop_timeout); }

}  // namespace cofcgi_test
