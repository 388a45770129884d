// syscall_probe: the read shape of libmariadb (recv with MSG_DONTWAIT into a buffer larger
// than what comes, on a non-blocking socket; on EAGAIN a poll of that one fd; then recv
// again) on a socket pair, ROUNDS times, parking every round: the writer coroutine sends the
// next byte only once the reader has taken the last one and gone back to wait.
// syscall_count_test.sh runs it under strace and counts the kernel calls a round costs
// (issue 15: park, recv - no ppoll, and no recv that says EAGAIN: the short read before
// it noted the socket empty).
//
// Usage: syscall_probe [ROUNDS]   exits 0 when every round got its byte.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "cofcgi/runtime.h"

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 500;
  int received = 0;
  bool failed = false;
  co::go([&] {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
      std::perror("socketpair");
      failed = true;
      return;
    }
    co::WaitQueue taken;  // the reader took a byte: the writer may send the next
    co::WaitGroup done;
    done.add(2);
    co::go([&] {
      for (int i = 0; i < rounds && !failed; ++i) {
        char buf[64];  // libmariadb reads into its net buffer: each read here is short
        while (::recv(sv[0], buf, sizeof buf, MSG_DONTWAIT) != 1) {
          pollfd p{sv[0], POLLIN, 0};
          if (errno != EAGAIN || ::poll(&p, 1, 5000) != 1 || !(p.revents & POLLIN)) {
            std::fprintf(stderr, "round %d: recv or poll failed (errno %d)\n", i, errno);
            failed = true;
            break;
          }
        }
        ++received;
        taken.notify_one();
      }
      done.done();
    });
    co::go([&] {
      for (int i = 0; i < rounds && !failed; ++i) {
        if (::write(sv[1], "x", 1) != 1) failed = true;
        (void)taken.wait(co::deadline_after(std::chrono::seconds(5)));
      }
      done.done();
    });
    done.wait();
    ::close(sv[0]);
    ::close(sv[1]);
  });
  co::run();
  std::printf("%d of %d rounds\n", received, rounds);
  return !failed && received == rounds ? 0 : 1;
}
