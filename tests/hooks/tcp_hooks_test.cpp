// Blocking-style network code in coroutines: a slow server (accept, read, 200 ms pause,
// write) and 200 clients written with plain socket/connect/write/read/close, all in one
// thread. With the hooks each call parks only its coroutine, so the whole exchange takes
// about one pause, not 200.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"

using hooks_test::Fd;
using hooks_test::read_exact;
using hooks_test::seconds_since;
using hooks_test::write_all;

namespace {

constexpr int kClients = 200;
constexpr size_t kMsg = 16;

std::string message_for(int i) {
  char buf[kMsg + 1];
  std::snprintf(buf, sizeof buf, "request %07d\n", i);
  return std::string(buf, kMsg);
}

// serve accepts `count` connections on listener; each in its own coroutine reads one
// message, pauses `pause_us`, writes "R" + the message minus its first byte, and closes.
void serve(int listener, int count, useconds_t pause_us, int* accept_errors) {
  for (int i = 0; i < count; ++i) {
    const int c = ::accept(listener, nullptr, nullptr);  // blocking-style: parks
    if (c < 0) {
      ++*accept_errors;
      continue;
    }
    co::go([c, pause_us] {
      char buf[kMsg];
      if (read_exact(c, buf, kMsg)) {
        ::usleep(pause_us);
        buf[0] = 'R';
        write_all(c, buf, kMsg);
      }
      ::close(c);
    });
  }
}

struct ClientResults {
  int ok = 0;
  int wrong = 0;
  int failed = 0;
  int no_eof = 0;
};

// client connects with a blocking socket, sends its message, checks the echo and EOF.
void client(int domain, const sockaddr* addr, socklen_t len, int i, ClientResults* res) {
  Fd s(::socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s || ::connect(s.get(), addr, len) != 0) {
    ++res->failed;
    return;
  }
  const std::string msg = message_for(i);
  char reply[kMsg];
  if (!write_all(s.get(), msg.data(), kMsg) || !read_exact(s.get(), reply, kMsg)) {
    ++res->failed;
    return;
  }
  std::string expected = msg;
  expected[0] = 'R';
  if (std::memcmp(reply, expected.data(), kMsg) == 0) {
    ++res->ok;
  } else {
    ++res->wrong;
  }
  char extra;
  if (::read(s.get(), &extra, 1) != 0) ++res->no_eof;  // the server closed after one reply
}

}  // namespace

TEST_CASE("tcp hooks: a slow server and 200 blocking-style clients share one thread") {
  cofcgi_test::LeakCheck leaks;
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port);
  int accept_errors = 0;
  ClientResults res;
  const sockaddr_in addr = hooks_test::loopback(port);
  const co::Deadline start = co::now_ns();
  co::go([&] { serve(listener.get(), kClients, 200'000, &accept_errors); });
  for (int i = 0; i < kClients; ++i) {
    co::go([&, i] {
      client(AF_INET, reinterpret_cast<const sockaddr*>(&addr), sizeof addr, i, &res);
    });
  }
  co::run();
  const double elapsed = seconds_since(start);
  CHECK(accept_errors == 0);
  CHECK(res.ok == kClients);
  CHECK(res.wrong == 0);
  CHECK(res.failed == 0);
  CHECK(res.no_eof == 0);
  CHECK(elapsed >= 0.2);
  CHECK(elapsed <
        1.5 *
            hooks_test::kSlack);  // one thread blocking in each call would need 200 x 0.2 s = 40 s
  MESSAGE("200 TCP clients of a 200 ms server: " << elapsed << " s");
}

TEST_CASE("tcp hooks: the same over a unix socket") {
  cofcgi_test::LeakCheck leaks;
  hooks_test::UnixPath path("tcp_hooks");
  Fd listener = hooks_test::unix_listener(path);
  int accept_errors = 0;
  ClientResults res;
  const sockaddr_un addr = path.addr();
  const co::Deadline start = co::now_ns();
  co::go([&] { serve(listener.get(), kClients, 200'000, &accept_errors); });
  for (int i = 0; i < kClients; ++i) {
    co::go([&, i] {
      client(AF_UNIX, reinterpret_cast<const sockaddr*>(&addr), sizeof addr, i, &res);
    });
  }
  co::run();
  const double elapsed = seconds_since(start);
  CHECK(accept_errors == 0);
  CHECK(res.ok == kClients);
  CHECK(res.wrong == 0);
  CHECK(res.failed == 0);
  CHECK(res.no_eof == 0);
  CHECK(elapsed >= 0.2);
  CHECK(elapsed < 1.5 * hooks_test::kSlack);
  MESSAGE("200 unix-socket clients of a 200 ms server: " << elapsed << " s");
}

TEST_CASE("tcp hooks: a blocking write larger than the socket buffers completes while parked") {
  // Each client sends 1 MiB with one write() and reads 1 MiB back with read loops: the
  // socket buffers hold far less, so the writes return only after parking on POLLOUT.
  cofcgi_test::LeakCheck leaks;
  constexpr int kBig = 10;
  constexpr size_t kSize = 1 << 20;
  std::uint16_t port = 0;
  Fd listener = hooks_test::tcp_listener(&port);
  const sockaddr_in addr = hooks_test::loopback(port);
  int server_ok = 0;
  int client_ok = 0;
  int short_writes = 0;
  co::go([&] {
    for (int i = 0; i < kBig; ++i) {
      const int c = ::accept(listener.get(), nullptr, nullptr);
      if (c < 0) continue;
      co::go([c, &server_ok, &short_writes] {
        std::vector<char> buf(kSize);
        if (read_exact(c, buf.data(), kSize)) {
          const ssize_t w = ::write(c, buf.data(), kSize);  // one call, all of it
          if (w == static_cast<ssize_t>(kSize)) {
            ++server_ok;
          } else {
            ++short_writes;
          }
        }
        ::close(c);
      });
    }
  });
  for (int i = 0; i < kBig; ++i) {
    co::go([&, i] {
      Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!s || ::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return;
      std::vector<char> out(kSize);
      for (size_t k = 0; k < kSize; ++k)
        out[k] = static_cast<char>((k * 7 + static_cast<size_t>(i)) & 0xff);
      const ssize_t w = ::write(s.get(), out.data(), kSize);
      if (w != static_cast<ssize_t>(kSize)) {
        ++short_writes;
        return;
      }
      std::vector<char> in(kSize);
      if (read_exact(s.get(), in.data(), kSize) && in == out) ++client_ok;
    });
  }
  co::run();
  CHECK(server_ok == kBig);
  CHECK(client_ok == kBig);
  CHECK(short_writes == 0);
}
