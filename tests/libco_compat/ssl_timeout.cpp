// An OpenSSL retry loop written for the seed's libco variant (issue 17): SSL_connect and
// SSL_read are retried on SSL_ERROR_WANT_READ/WANT_WRITE unless errno == LIBCO_POLL_TIMEOUT,
// which the program reports as a timeout; anything else ends the connection. The client is a
// co_create coroutine with hooks on and sets no socket timeout (it relies on libco's default
// ones). Its peers are real OpenSSL servers on plain threads that go silent:
//   1. a TCP listener that accepts and never answers the ClientHello, closing after SILENT_MS;
//   2. a TLS server that completes the handshake, sends "hello", then stays silent for
//      SILENT_MS and closes.
//
// C++11, libco's API and OpenSSL only; the profile is switched on from outside
// (COFCGI_LIBCO_TIMEOUTS). Prints
//   ssl_timeout: connect to a silent peer: <timeout|closed>; read after 'hello': <timeout|closed>
// and exits 1 on anything else (handshake failure, wrong data).
//
// Usage: libco_ssl_timeout CERT.pem KEY.pem SILENT_MS
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "co_routine.h"

struct Peer {
  int listen_fd;
  unsigned short port;
  SSL_CTX* ctx;  // NULL: never speak TLS
  int silent_ms;
};

struct Client {
  unsigned short silent_port;
  unsigned short tls_port;
  std::string connect_result;
  std::string read_result;
  long long connect_ms;
  long long read_ms;
  int failed;
  int done;
};

static long long now_ms() {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return tv.tv_sec * 1000LL + tv.tv_usec / 1000;
}

static int listen_any(unsigned short* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0 || listen(fd, 4) != 0 ||
      getsockname(fd, (struct sockaddr*)&addr, &len) != 0) {
    perror("listen");
    exit(1);
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// A peer thread (no coroutines here: plain blocking calls).
static void* peer_thread(void* arg) {
  Peer* p = (Peer*)arg;
  int fd = accept(p->listen_fd, NULL, NULL);
  if (fd < 0) return NULL;
  SSL* ssl = NULL;
  if (p->ctx != NULL) {
    ssl = SSL_new(p->ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1 || SSL_write(ssl, "hello", 5) != 5) {
      ERR_print_errors_fp(stderr);
    }
  }
  usleep(p->silent_ms * 1000);  // silent
  if (ssl != NULL) SSL_free(ssl);
  close(fd);
  return NULL;
}

static int connect_to(unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
    printf("client: connect failed: %s\n", strerror(errno));
    exit(1);
  }
  return fd;
}

// The variant's retry loop around SSL_connect: "timeout", "closed" or "ok".
static std::string ssl_connect_loop(SSL* ssl) {
  for (;;) {
    int r = SSL_connect(ssl);
    if (r == 1) return "ok";
    int err = SSL_get_error(ssl, r);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) &&
        errno != LIBCO_POLL_TIMEOUT) {
      continue;
    }
    if (errno == LIBCO_POLL_TIMEOUT) return "timeout";
    ERR_clear_error();
    return "closed";
  }
}

// The variant's retry loop around SSL_read: the bytes read, or "" with *result set.
static std::string ssl_read_loop(SSL* ssl, std::string* result) {
  char buf[64];
  for (;;) {
    int r = SSL_read(ssl, buf, sizeof(buf));
    if (r > 0) return std::string(buf, r);
    int err = SSL_get_error(ssl, r);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) &&
        errno != LIBCO_POLL_TIMEOUT) {
      continue;
    }
    *result = errno == LIBCO_POLL_TIMEOUT ? "timeout" : "closed";
    ERR_clear_error();
    return "";
  }
}

static void* client_routine(void* arg) {
  co_enable_hook_sys();
  Client* c = (Client*)arg;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

  // 1. The handshake against a peer that never answers.
  int fd = connect_to(c->silent_port);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  long long start = now_ms();
  c->connect_result = ssl_connect_loop(ssl);
  c->connect_ms = now_ms() - start;
  if (c->connect_result == "ok") c->failed = 1;
  SSL_free(ssl);
  close(fd);

  // 2. Reading from a peer that said hello and went silent.
  fd = connect_to(c->tls_port);
  ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (ssl_connect_loop(ssl) != "ok") {
    printf("client: TLS handshake failed\n");
    c->failed = 1;
  } else {
    std::string result;
    std::string got = ssl_read_loop(ssl, &result);
    if (got != "hello") {
      printf("client: expected 'hello', got '%s' (%s)\n", got.c_str(), result.c_str());
      c->failed = 1;
    }
    start = now_ms();
    got = ssl_read_loop(ssl, &result);
    c->read_ms = now_ms() - start;
    c->read_result = got.empty() ? result : "data";
  }
  SSL_free(ssl);
  close(fd);
  SSL_CTX_free(ctx);
  c->done = 1;
  return NULL;
}

static int client_done(void* arg) { return ((Client*)arg)->done ? -1 : 0; }

int main(int argc, char* argv[]) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s CERT.pem KEY.pem SILENT_MS\n", argv[0]);
    return 2;
  }
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_file(server_ctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(server_ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  int silent_ms = atoi(argv[3]);
  Peer silent = {-1, 0, NULL, silent_ms};
  Peer tls = {-1, 0, server_ctx, silent_ms};
  silent.listen_fd = listen_any(&silent.port);
  tls.listen_fd = listen_any(&tls.port);
  pthread_t threads[2];
  pthread_create(&threads[0], NULL, peer_thread, &silent);
  pthread_create(&threads[1], NULL, peer_thread, &tls);

  Client c;
  c.silent_port = silent.port;
  c.tls_port = tls.port;
  c.connect_ms = c.read_ms = 0;
  c.failed = c.done = 0;
  stCoRoutine_t* co = NULL;
  co_create(&co, NULL, client_routine, &c);
  co_resume(co);
  co_eventloop(co_get_epoll_ct(), client_done, &c);
  co_release(co);

  printf(
      "ssl_timeout: connect to a silent peer: %s after %lld ms; read after 'hello': %s after "
      "%lld ms\n",
      c.connect_result.c_str(), c.connect_ms, c.read_result.c_str(), c.read_ms);
  printf("ssl_timeout: connect to a silent peer: %s; read after 'hello': %s\n",
         c.connect_result.c_str(), c.read_result.c_str());
  pthread_join(threads[0], NULL);
  pthread_join(threads[1], NULL);
  SSL_CTX_free(server_ctx);
  close(silent.listen_fd);
  close(tls.listen_fd);
  return c.failed ? 1 : 0;
}
