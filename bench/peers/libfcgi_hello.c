/* libfcgi_hello: the classic single-threaded libfcgi responder, the peer of cofcgi's
 * examples/hello in `bench/run hello`. One FCGX_Accept_r loop on one thread, blocking I/O,
 * answering every request "Hello, World!\n" as text/plain (the same bytes as cofcgi hello).
 *
 *   libfcgi_hello [HOST:PORT]        (default 127.0.0.1:9001; ":PORT" binds every address)
 *
 * Build (Debian libfcgi-dev): cc -O2 -o libfcgi_hello bench/peers/libfcgi_hello.c -lfcgi
 * bench/run builds it into BUILD_DIR/bench/peers/.
 */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  const char* addr = argc > 1 ? argv[1] : "127.0.0.1:9001";
  signal(SIGPIPE, SIG_IGN); /* nginx closing a kept connection must not kill us */
  if (FCGX_Init() != 0) {
    fprintf(stderr, "libfcgi_hello: FCGX_Init failed\n");
    return 1;
  }
  int sock = FCGX_OpenSocket(addr, 1024);
  if (sock < 0) {
    fprintf(stderr, "libfcgi_hello: cannot listen on %s\n", addr);
    return 1;
  }
  FCGX_Request request;
  if (FCGX_InitRequest(&request, sock, 0) != 0) return 1;
  while (FCGX_Accept_r(&request) >= 0) {
    FCGX_PutS("Content-Type: text/plain\r\n\r\nHello, World!\n", request.out);
    FCGX_Finish_r(&request);
  }
  return 0;
}
