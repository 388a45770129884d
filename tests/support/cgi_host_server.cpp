// See cgi_host_server.h.
#include "cgi_host_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixture_util.h"

namespace fs = std::filesystem;

namespace cofcgi_test {
namespace {

using Clock = std::chrono::steady_clock;

const char* const kApacheModules = "/usr/lib/apache2/modules";

// kill_stale_host: the dir's recorded group, if its processes are still a CGI host's (the id
// may have been reused since: nothing else is touched). CGI programs the host started are in
// the group too.
void kill_stale_host(const fs::path& dir) {
  std::ifstream group(dir / "host.pgid");
  long pgid = 0;
  if (!(group >> pgid) || pgid <= 1) return;
  std::ifstream comm_file("/proc/" + std::to_string(pgid) + "/comm");
  std::string comm;
  std::getline(comm_file, comm);
  if (comm == "lighttpd" || comm == "apache2") ::kill(static_cast<pid_t>(-pgid), SIGKILL);
}

// project_libraries: the shared libraries of the project (libcofcgi_*) that `program` loads,
// as ldd resolves them.
std::vector<std::string> project_libraries(const std::string& program) {
  std::vector<std::string> libs;
  const std::string command = "ldd '" + program + "' 2>/dev/null";
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return libs;
  char line[1024];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    std::istringstream in(line);
    std::string name, arrow, path;
    in >> name >> arrow >> path;
    if (name.rfind("libcofcgi", 0) == 0 && arrow == "=>" && !path.empty() && path[0] == '/') {
      libs.push_back(path);
    }
  }
  ::pclose(p);
  return libs;
}

// stage copies a program and the project libraries it loads into the host's dir (0755):
// Apache's workers run as www-data, which may not reach the build tree at all (a clone in
// /root is 0700), so cgi-bin/ must not point into it. The copies find their libraries
// through LD_LIBRARY_PATH=DIR/lib, which the loader searches before the build tree's RUNPATH.
std::string stage(const std::string& dir, const std::string& program) {
  const fs::path target = fs::path(dir) / "bin" / fs::path(program).filename();
  std::error_code ec;
  fs::copy_file(program, target, fs::copy_options::overwrite_existing, ec);
  if (ec) throw CgiHostServerError("copy " + program + ": " + ec.message());
  ::chmod(target.c_str(), 0755);
  for (const std::string& lib : project_libraries(program)) {
    const fs::path copy = fs::path(dir) / "lib" / fs::path(lib).filename();
    fs::copy_file(lib, copy, fs::copy_options::overwrite_existing, ec);
    if (ec) throw CgiHostServerError("copy " + lib + ": " + ec.message());
    ::chmod(copy.c_str(), 0755);
  }
  return target.string();
}

// replace_all: every `from` in `text` becomes `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

std::string CgiHostServer::binary(CgiHost host) {
  const std::string name = host == CgiHost::apache ? "apache2" : "lighttpd";
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':'))
      if (!d.empty()) dirs.push_back(d);
  }
  for (const char* d : {"/usr/sbin", "/usr/bin", "/sbin"}) dirs.emplace_back(d);
  for (const auto& d : dirs) {
    if (::access((d + "/" + name).c_str(), X_OK) == 0) return d + "/" + name;
  }
  return {};
}

CgiHostServer::CgiHostServer(CgiHostOptions options) : options_(std::move(options)) {
  const char* tmpdir = std::getenv("TMPDIR");
  const fs::path tmp = (tmpdir && *tmpdir) ? tmpdir : "/tmp";
  remove_stale_dirs(tmp, "cofcgi-cgihost-", kill_stale_host);
  std::string templ = (tmp / "cofcgi-cgihost-XXXXXX").string();
  if (!::mkdtemp(templ.data()))
    throw CgiHostServerError("mkdtemp " + templ + ": " + std::strerror(errno));
  dir_ = templ;
  // Apache's workers run as www-data when we are root: they must reach cgi-bin/.
  ::chmod(dir_.c_str(), 0755);
  fs::create_directories(dir_ + "/cgi-bin");
  fs::create_directories(dir_ + "/htdocs");
  fs::create_directories(dir_ + "/tmp");
  fs::create_directories(dir_ + "/bin");
  fs::create_directories(dir_ + "/lib");
  ::chmod((dir_ + "/bin").c_str(), 0755);
  ::chmod((dir_ + "/lib").c_str(), 0755);
  std::ofstream(dir_ + "/owner.pid") << ::getpid() << "\n";
  std::vector<std::pair<std::string, std::string>> staged;  // build-tree path -> copy
  for (const auto& [name, target] : options_.programs) {
    staged.emplace_back(target, stage(dir_, target));
    std::error_code ec;
    fs::create_symlink(staged.back().second, dir_ + "/cgi-bin/" + name, ec);
    if (ec) throw CgiHostServerError("symlink cgi-bin/" + name + ": " + ec.message());
  }
  for (const auto& [name, text] : options_.scripts) {
    std::string body = text;
    for (const auto& [from, to] : staged) body = replace_all(body, from, to);
    const std::string path = dir_ + "/cgi-bin/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
  }
}

CgiHostServer::~CgiHostServer() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    reap(true, &status);
  }
  const char* keep = std::getenv("COFCGI_CGI_HOST_KEEP");
  if (!(keep && *keep == '1')) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string CgiHostServer::conf_path() const {
  return dir_ + (options_.host == CgiHost::apache ? "/httpd.conf" : "/lighttpd.conf");
}

std::string CgiHostServer::error_log_tail(std::size_t lines) const {
  return file_tail(error_log_path(), lines);
}

void CgiHostServer::fail(const std::string& what) {
  throw CgiHostServerError(std::string(name()) + " fixture (" + dir_ + "): " + what + "\n--- " +
                           error_log_path() + " (tail) ---\n" + error_log_tail());
}

void CgiHostServer::write_config() const {
  const std::string& d = dir_;
  std::ostringstream c;
  if (options_.host == CgiHost::lighttpd) {
    c << "server.modules = (\"mod_alias\", \"mod_cgi\")\n"
      << "server.document-root = \"" << d << "/htdocs\"\n"
      << "server.bind = \"" << host_ << "\"\n"
      << "server.port = " << port_ << "\n"
      << "server.errorlog = \"" << d << "/error.log\"\n"
      << "server.breakagelog = \"" << d << "/cgi-stderr.log\"\n"
      << "server.upload-dirs = (\"" << d << "/tmp\")\n"
      << "server.max-request-size = " << (options_.max_request_body + 1023) / 1024 << "\n"
      << "alias.url = (\"/cgi-bin/\" => \"" << d << "/cgi-bin/\")\n"
      << "$HTTP[\"url\"] =~ \"^/cgi-bin/\" { cgi.assign = (\"\" => \"\") }\n";
  } else {
    const std::string m = kApacheModules;
    c << "ServerRoot \"" << d << "\"\n"
      << "DefaultRuntimeDir \"" << d << "\"\n"
      << "PidFile \"" << d << "/httpd.pid\"\n"
      << "ErrorLog \"" << d << "/error.log\"\n"
      << "LogLevel info\n"
      << "Listen " << host_ << ":" << port_ << "\n"
      << "ServerName localhost\n";
    if (::geteuid() == 0) c << "User www-data\nGroup www-data\n";
    c << "LoadModule mpm_event_module " << m << "/mod_mpm_event.so\n"
      << "LoadModule authz_core_module " << m << "/mod_authz_core.so\n"
      << "LoadModule alias_module " << m << "/mod_alias.so\n"
      << "LoadModule cgid_module " << m << "/mod_cgid.so\n"
      << "LoadModule env_module " << m << "/mod_env.so\n"
      << "SetEnv LD_LIBRARY_PATH \"" << d << "/lib\"\n"
      << "StartServers 1\nServerLimit 1\nThreadsPerChild 32\nMaxRequestWorkers 32\n"
      << "MinSpareThreads 1\nMaxSpareThreads 32\n"
      << "ScriptSock \"" << d << "/cgid.sock\"\n"
      << "DocumentRoot \"" << d << "/htdocs\"\n"
      << "LimitRequestBody " << options_.max_request_body << "\n"
      << "ScriptAlias /cgi-bin/ \"" << d << "/cgi-bin/\"\n"
      << "<Directory \"" << d << "/cgi-bin\">\n  Require all granted\n</Directory>\n";
  }
  std::ofstream out(conf_path(), std::ios::trunc);
  out << c.str();
  if (!out) throw CgiHostServerError("cannot write " + conf_path());
}

bool CgiHostServer::reap(bool block, int* status) { return reap_group(&pid_, block, status); }

void CgiHostServer::start() {
  if (pid_ > 0) return;
  const std::string exe = binary(options_.host);
  if (exe.empty()) {
    throw CgiHostServerError(std::string(name()) +
                             " not found (install Debian's lighttpd / apache2, see "
                             "scripts/lib/apt-packages.txt)");
  }
  const std::string out_log = dir_ + "/host.out";
  for (int attempt = 0;; ++attempt) {
    port_ = pick_free_port();
    write_config();
    std::vector<std::string> args;
    if (options_.host == CgiHost::apache)
      args = {exe, "-f", conf_path(), "-DFOREGROUND"};
    else
      args = {exe, "-D", "-f", conf_path()};
    pid_ = spawn_logged(args, out_log);
    track_process_group(pid_);
    std::ofstream(dir_ + "/host.pgid") << pid_ << "\n";
    const auto deadline = Clock::now() + options_.start_timeout;
    bool retry = false;
    for (;;) {
      if (accepts_connections(host_, port_)) return;
      int status = 0;
      if (reap(false, &status)) {
        const std::string log = read_file(error_log_path()) + read_file(out_log);
        if (attempt < 5 && log.find("ddress already in use") != std::string::npos) {
          retry = true;
          break;
        }
        fail(std::string(name()) + " " + describe_status(status) +
             " before accepting connections\n" + read_file(out_log));
      }
      if (Clock::now() >= deadline) {
        ::kill(-pid_, SIGKILL);
        reap(true, &status);
        fail("no connections accepted within " + std::to_string(options_.start_timeout.count()) +
             " s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!retry) break;
  }
}

void CgiHostServer::stop() { stop_group(&pid_, SIGTERM, options_.stop_timeout); }

}  // namespace cofcgi_test
