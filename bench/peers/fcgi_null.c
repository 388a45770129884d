/* fcgi_null: the least work a FastCGI responder can do, to measure what nginx itself can
 * push through fastcgi_pass on this machine (the practical ceiling of any FastCGI app behind
 * one nginx worker). One thread, epoll, non-blocking sockets; it parses only record headers
 * (skipping PARAMS content unread) and, at the empty STDIN record that ends a request,
 * writes one canned answer: STDOUT "Content-Type: text/plain\r\n\r\nHello, World!\n", the
 * empty STDOUT record and END_REQUEST, in one write. It honours FCGI_KEEP_CONN (closes
 * after the answer otherwise). Not a real server: no management records, no multiplexing
 * beyond echoing the request id, no body. Used by `bench/run hello` as a reference row.
 *
 *   fcgi_null [HOST:PORT]        (default 127.0.0.1:9002)
 *   cc -O2 -o fcgi_null bench/peers/fcgi_null.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kBegin = 1, kEnd = 3, kParams = 4, kStdin = 5, kStdout = 6 };

struct conn {
  int fd;
  int keep;
  unsigned char in[65536 + 8 + 256];
  size_t len;
  unsigned char out[4096];
  size_t out_len, out_off;
};

static const char kBody[] = "Content-Type: text/plain\r\n\r\nHello, World!\n";

static size_t build_answer(unsigned char* p, unsigned id) {
  const size_t body = sizeof kBody - 1;
  const size_t pad = (8 - body % 8) % 8;
  size_t n = 0;
  unsigned char h[8] = {1,
                        kStdout,
                        (unsigned char)(id >> 8),
                        (unsigned char)id,
                        (unsigned char)(body >> 8),
                        (unsigned char)body,
                        (unsigned char)pad,
                        0};
  memcpy(p + n, h, 8), n += 8;
  memcpy(p + n, kBody, body), n += body;
  memset(p + n, 0, pad), n += pad;
  h[4] = h[5] = h[6] = 0;
  memcpy(p + n, h, 8), n += 8; /* empty STDOUT */
  unsigned char end[16] = {1,
                           kEnd,
                           (unsigned char)(id >> 8),
                           (unsigned char)id,
                           0,
                           8,
                           0,
                           0,
                           0,
                           0,
                           0,
                           0,
                           0 /* FCGI_REQUEST_COMPLETE */,
                           0,
                           0,
                           0};
  memcpy(p + n, end, 16), n += 16;
  return n;
}

static void drop(int ep, struct conn* c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

/* Writes what is pending; returns -1 on error. */
static int flush_out(int ep, struct conn* c) {
  while (c->out_off < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return 0;
      }
      return -1;
    }
    c->out_off += (size_t)w;
  }
  c->out_len = c->out_off = 0;
  return 0;
}

/* Consumes complete records; returns -1 to close the connection. */
static int on_input(int ep, struct conn* c) {
  size_t off = 0;
  int close_after = 0;
  while (c->len - off >= 8) {
    const unsigned char* h = c->in + off;
    const size_t clen = ((size_t)h[4] << 8) | h[5];
    const size_t total = 8 + clen + h[6];
    if (c->len - off < total) break;
    const unsigned id = ((unsigned)h[2] << 8) | h[3];
    if (h[1] == kBegin && clen >= 3) c->keep = h[8 + 2] & 1;
    if (h[1] == kStdin && clen == 0) {
      if (c->out_len + 256 > sizeof c->out) return -1;
      c->out_len += build_answer(c->out + c->out_len, id);
      if (!c->keep) close_after = 1;
    }
    off += total;
  }
  memmove(c->in, c->in + off, c->len - off);
  c->len -= off;
  if (c->out_len > 0 && flush_out(ep, c) != 0) return -1;
  return close_after && c->out_len == 0 ? -1 : 0;
}

int main(int argc, char** argv) {
  const char* addr = argc > 1 ? argv[1] : "127.0.0.1:9002";
  char host[64];
  const char* colon = strrchr(addr, ':');
  if (colon == NULL || (size_t)(colon - addr) >= sizeof host) {
    fprintf(stderr, "fcgi_null: HOST:PORT expected\n");
    return 2;
  }
  memcpy(host, addr, (size_t)(colon - addr));
  host[colon - addr] = 0;
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((unsigned short)atoi(colon + 1))};
  if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1) return 2;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(ls, 1024) != 0) {
    perror("fcgi_null: listen");
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      struct conn* c = evs[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn* nc = calloc(1, sizeof *nc);
          if (nc == NULL) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      if (evs[i].events & EPOLLOUT) {
        if (flush_out(ep, c) != 0) {
          drop(ep, c);
          continue;
        }
        if (c->out_len == 0) {
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = recv(c->fd, c->in + c->len, sizeof c->in - c->len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          drop(ep, c);
          continue;
        }
        if (r > 0) {
          c->len += (size_t)r;
          if (on_input(ep, c) != 0) drop(ep, c);
        }
      }
    }
  }
}
