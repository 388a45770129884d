// A keep-alive loop written for the seed's libco variant (issue 17): a client coroutine reads
// its connection and, whenever read() fails with errno == LIBCO_POLL_TIMEOUT (the socket's
// read timeout passed, libco's default one: the program sets none), sends "ping\n" to the
// peer; any other failure, or EOF, means the connection is closed. The peer is a second
// coroutine in the variant's server style: co_poll on the listener, co_accept, then co_poll
// and read on the accepted socket. It says hello, stays silent for SILENT_MS (draining the
// pings), then closes.
//
// C++11 and libco's API only; the profile is switched on from outside
// (COFCGI_LIBCO_TIMEOUTS), as for a program that cannot be changed. Prints
//   ping_loop: accepted socket O_NONBLOCK=<0|1>, T timeouts, T pings sent, P received by the
//   peer, then closed
// and exits 1 when the counts disagree or an I/O call fails unexpectedly.
//
// Usage: libco_ping_loop SILENT_MS
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "co_routine.h"

struct Shared {
  int listen_fd;
  unsigned short port;
  int silent_ms;
  int timeouts;
  int pings_sent;
  int pings_received;
  int accepted_nonblock;
  int finished;
  int failed;
};

static long long now_ms() {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return tv.tv_sec * 1000LL + tv.tv_usec / 1000;
}

static void* peer_routine(void* arg) {
  co_enable_hook_sys();
  Shared* s = (Shared*)arg;
  struct pollfd pf;
  memset(&pf, 0, sizeof(pf));
  pf.fd = s->listen_fd;
  pf.events = POLLIN | POLLERR | POLLHUP;
  co_poll(co_get_epoll_ct(), &pf, 1, 10000);
  int fd = co_accept(s->listen_fd, NULL, NULL);
  if (fd < 0) {
    printf("peer: co_accept failed: %s\n", strerror(errno));
    s->failed = 1;
    s->finished++;
    return NULL;
  }
  s->accepted_nonblock = (fcntl(fd, F_GETFL, 0) & O_NONBLOCK) ? 1 : 0;
  if (write(fd, "hello\n", 6) != 6) s->failed = 1;
  long long end = now_ms() + s->silent_ms;
  int bytes = 0;
  for (long long left = s->silent_ms; left > 0; left = end - now_ms()) {
    pf.fd = fd;
    pf.events = POLLIN | POLLERR | POLLHUP;
    pf.revents = 0;
    if (co_poll(co_get_epoll_ct(), &pf, 1, (int)left) <= 0) continue;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      bytes += (int)n;
    } else if (n == 0 || (errno != EAGAIN && errno != LIBCO_POLL_TIMEOUT)) {
      break;
    }
  }
  s->pings_received = bytes / 5;
  close(fd);
  s->finished++;
  return NULL;
}

static void* client_routine(void* arg) {
  co_enable_hook_sys();
  Shared* s = (Shared*)arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(s->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
    printf("client: connect failed: %s\n", strerror(errno));
    s->failed = 1;
    s->finished++;
    return NULL;
  }
  char buf[256];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) continue;
    if (n < 0 && errno == LIBCO_POLL_TIMEOUT) {
      s->timeouts++;
      if (write(fd, "ping\n", 5) == 5) s->pings_sent++;
      continue;
    }
    break;  // EOF or any other error: closed
  }
  close(fd);
  s->finished++;
  return NULL;
}

static int all_done(void* arg) {
  Shared* s = (Shared*)arg;
  return s->finished == 2 ? -1 : 0;
}

int main(int argc, char* argv[]) {
  Shared s;
  memset(&s, 0, sizeof(s));
  s.silent_ms = argc > 1 ? atoi(argv[1]) : 1000;
  s.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (s.listen_fd < 0 || bind(s.listen_fd, (struct sockaddr*)&addr, sizeof(addr)) != 0 ||
      listen(s.listen_fd, 4) != 0 || getsockname(s.listen_fd, (struct sockaddr*)&addr, &len) != 0) {
    perror("listen");
    return 1;
  }
  fcntl(s.listen_fd, F_SETFL, fcntl(s.listen_fd, F_GETFL, 0) | O_NONBLOCK);
  s.port = ntohs(addr.sin_port);

  stCoRoutine_t* peer = NULL;
  stCoRoutine_t* client = NULL;
  co_create(&peer, NULL, peer_routine, &s);
  co_create(&client, NULL, client_routine, &s);
  co_resume(peer);
  co_resume(client);
  co_eventloop(co_get_epoll_ct(), all_done, &s);

  printf(
      "ping_loop: accepted socket O_NONBLOCK=%d, %d timeouts, %d pings sent, %d received by the "
      "peer, then closed\n",
      s.accepted_nonblock, s.timeouts, s.pings_sent, s.pings_received);
  // The peer may close before reading the last ping.
  bool counts_ok = s.pings_sent == s.timeouts && s.pings_received <= s.pings_sent &&
                   s.pings_received >= s.pings_sent - 1;
  if (s.failed || !counts_ok) {
    printf("ping_loop: FAILED\n");
    return 1;
  }
  co_release(peer);
  co_release(client);
  close(s.listen_fd);
  return 0;
}
