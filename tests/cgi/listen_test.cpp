// How the server finds its socket: inherited on fd 0 (spawn-fcgi, `cgi-fcgi -start`), and
// who may connect over TCP (FCGI_WEB_SERVER_ADDRS, as libfcgi applies it).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "cgi_test_util.h"

using namespace cgi_test;

namespace {

int listening_socket(std::uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 64) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

FcgiReply ask(const std::string& address) {
  FcgiConn conn(address);
  return conn.request(1, cgi_params("GET", "/"), {}, true, std::chrono::seconds(5));
}

}  // namespace

TEST_CASE("with no --listen, hello serves the listening socket it inherits on fd 0") {
  std::uint16_t port = 0;
  const int listener = listening_socket(&port);
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(listener, 0);  // what spawn-fcgi does (FCGI_LISTENSOCK_FILENO)
    ::execl(COFCGI_HELLO_EXE, COFCGI_HELLO_EXE, static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(listener);
  FcgiReply reply;
  for (int attempt = 0; attempt < 100 && !reply.complete; ++attempt) {
    try {
      reply = ask("127.0.0.1:" + std::to_string(port));
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  CHECK(reply.complete);
  CHECK(parse_cgi_response(reply.out).body == "Hello, World!\n");
  ::kill(child, SIGTERM);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("FCGI_WEB_SERVER_ADDRS: TCP peers not in the list are refused, listed ones served") {
  TempDir dir;
  ::setenv("FCGI_WEB_SERVER_ADDRS", "192.0.2.1", 1);  // the app inherits it; not loopback
  App refusing = start_app(COFCGI_HELLO_EXE, "127.0.0.1:0", {}, dir.path() + "/refusing.log");
  ::setenv("FCGI_WEB_SERVER_ADDRS", "192.0.2.1, 127.0.0.1", 1);
  App allowing = start_app(COFCGI_HELLO_EXE, "127.0.0.1:0", {}, dir.path() + "/allowing.log");
  ::unsetenv("FCGI_WEB_SERVER_ADDRS");

  FcgiConn conn(refusing.address);
  CHECK(conn.wait_closed(std::chrono::seconds(5)));  // closed without an answer
  CHECK(refusing.child->log().find("FCGI_WEB_SERVER_ADDRS") != std::string::npos);

  const FcgiReply reply = ask(allowing.address);
  CHECK(reply.complete);
  CHECK(parse_cgi_response(reply.out).body == "Hello, World!\n");
}
