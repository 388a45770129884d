/* cgi_hello: the least a CGI program can do to give hello's answer -- one write() of the same
 * bytes examples/hello prints in a CGI run (Status line, headers, blank line, body), then exit.
 * The reference row of `bench/run cgi`: what process start and exit cost on this machine,
 * against which the cost of a cofcgi CGI run (dynamic linking of libcofcgi_cgi, libstdc++,
 * the scheduler, the handler coroutine) is measured.
 *
 *   cc -O2 -o cgi_hello bench/peers/cgi_hello.c
 */
#include <unistd.h>

int main(void) {
  static const char answer[] =
      "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, World!\n";
  return write(1, answer, sizeof answer - 1) == (ssize_t)(sizeof answer - 1) ? 0 : 1;
}
