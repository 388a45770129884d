// demo_stack: what scripts/demo runs. A private MariaDB, the guestbook example behind a
// private nginx, all on loopback, torn down on Ctrl-C. The guestbook runs under its
// supervisor with 2 worker processes (--workers 2). With --smoke it makes one GET and one
// POST through nginx, checks both, and exits (0: all good).
//   demo_stack --guestbook build/examples/guestbook [--smoke]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mariadb_server.h"
#include "nginx_server.h"

namespace {

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;
};

// http makes one HTTP/1.0 request to 127.0.0.1:port and reads the reply to EOF.
HttpReply http(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to nginx");
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::write(fd, request.data() + sent, request.size() - sent);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    raw.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  HttpReply reply;
  const std::size_t head_end = raw.find("\r\n\r\n");
  reply.headers = raw.substr(0, head_end);
  reply.body = head_end == std::string::npos ? "" : raw.substr(head_end + 4);
  if (raw.size() > 12) reply.status = std::atoi(raw.c_str() + 9);
  return reply;
}

std::string header_value(const std::string& headers, const std::string& name) {
  const std::size_t at = headers.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const std::size_t start = at + name.size() + 4;
  return headers.substr(start, headers.find("\r\n", start) - start);
}

bool wait_for_unix_socket(const std::string& path, pid_t child) {
  for (int i = 0; i < 200; ++i) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (up) return true;
    if (::waitpid(child, nullptr, WNOHANG) == child) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int smoke(std::uint16_t port) {
  const HttpReply page = http(port, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
  const std::string cookie = header_value(page.headers, "Set-Cookie");
  const std::string token = cookie.substr(5, 32);  // "csrf=<32 hex>; ..."
  std::printf("GET / -> %d (%zu bytes)\n", page.status, page.body.size());
  if (page.status != 200 || page.body.find("<h1>Guestbook</h1>") == std::string::npos ||
      token.size() != 32) {
    std::fprintf(stderr, "smoke: FAIL: the page is not the guestbook form\n%s\n",
                 page.headers.c_str());
    return 1;
  }
  const std::string marker = std::to_string(::getpid());
  const std::string form =
      "csrf=" + token + "&name=smoke&message=hello+%3Cb%3E" + marker + "%3C%2Fb%3E";
  const HttpReply post =
      http(port, "POST /messages HTTP/1.0\r\nHost: localhost\r\nCookie: csrf=" + token +
                     "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                     std::to_string(form.size()) + "\r\n\r\n" + form);
  std::printf("POST /messages -> %d\n", post.status);
  const HttpReply after =
      http(port, "GET / HTTP/1.0\r\nHost: localhost\r\nCookie: csrf=" + token + "\r\n\r\n");
  // The message comes back, and escaped: no live <b> tag from user input.
  const bool listed =
      after.body.find("hello &lt;b&gt;" + marker + "&lt;/b&gt;") != std::string::npos;
  if (post.status != 303 || !listed) {
    std::fprintf(stderr, "smoke: FAIL: the posted message is not listed (escaped)\n");
    return 1;
  }
  std::printf("smoke: OK\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string guestbook;
  bool smoke_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--smoke")
      smoke_only = true;
    else if (arg == "--guestbook" && i + 1 < argc)
      guestbook = argv[++i];
    else {
      std::fprintf(stderr, "usage: demo_stack --guestbook PATH [--smoke]\n");
      return 2;
    }
  }
  // Ctrl-C ends the demo below, not the process at once (the servers must be stopped).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    cofcgi_test::MariadbServer db;
    db.start();
    std::printf("MariaDB: %s (user %s, database %s)\n", db.socket_path().c_str(), db.user().c_str(),
                db.database().c_str());

    const std::string app_socket = db.dir() + "/guestbook.sock";
    const pid_t app = ::fork();
    if (app == 0) {
      sigset_t none;
      sigemptyset(&none);
      pthread_sigmask(SIG_SETMASK, &none, nullptr);
      ::execl(guestbook.c_str(), guestbook.c_str(), "--listen", ("unix:" + app_socket).c_str(),
              "--mysql-socket", db.socket_path().c_str(), "--mysql-user", db.user().c_str(),
              "--mysql-password", db.password().c_str(), "--mysql-db", db.database().c_str(),
              "--pool", "16", "--access-log", "--workers", "2", static_cast<char*>(nullptr));
      std::perror("exec guestbook");
      _exit(127);
    }
    if (!wait_for_unix_socket(app_socket, app)) throw std::runtime_error("guestbook did not start");

    cofcgi_test::NginxServerOptions nginx_options;
    nginx_options.upstream = "unix:" + app_socket;
    cofcgi_test::NginxServer nginx(nginx_options);
    nginx.start();

    int rc = 0;
    if (smoke_only) {
      rc = smoke(nginx.port());
    } else {
      std::printf("Guestbook: http://%s:%u/   (Ctrl-C stops nginx, the app and MariaDB)\n",
                  nginx.host().c_str(), nginx.port());
      std::fflush(stdout);
      int sig = 0;
      sigwait(&stop_signals, &sig);
      std::printf("\nstopping\n");
    }
    nginx.stop();
    ::kill(app, SIGTERM);
    int status = 0;
    ::waitpid(app, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "guestbook did not exit cleanly (status %d)\n", status);
      if (smoke_only) rc = 1;
    }
    db.stop();
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo: %s\n", e.what());
    return 1;
  }
}
