/* A stand-in for a third-party C library (libmariadb, libfcgi...) that knows nothing about
 * coroutines: plain blocking libc calls. Built twice by tests/hooks/CMakeLists.txt: once
 * linked into hooks_tests, once only for dlopen. Compiled with _FORTIFY_SOURCE=2, as
 * distribution builds of such libraries are: a read or poll into a local array with a
 * length the compiler cannot check goes through __read_chk / __poll_chk. */
#include <poll.h>
#include <stddef.h>
#include <unistd.h>

#define BLOCKING_LIB_API __attribute__((visibility("default")))

/* blocking_lib_read reads up to n bytes into buf: the plain read symbol. */
BLOCKING_LIB_API long blocking_lib_read(int fd, void* buf, size_t n) {
  return (long)read(fd, buf, n);
}

/* blocking_lib_read_chk reads up to n (at most 16: the callee checks, as fortified code
 * does at run time) bytes into a local buffer, through __read_chk; returns the first byte,
 * or -1. No range check here, or the compiler would prove the call safe and skip the check. */
BLOCKING_LIB_API int blocking_lib_read_chk(int fd, size_t n) {
  unsigned char buf[16];
  return read(fd, buf, n) >= 1 ? buf[0] : -1;
}

/* blocking_lib_poll_in waits for fd to be readable through __poll_chk (nfds, at most 1, is
 * not a constant to the compiler); returns poll's result. */
BLOCKING_LIB_API int blocking_lib_poll_in(int fd, int timeout_ms, nfds_t nfds) {
  struct pollfd p[1] = {{fd, POLLIN, 0}};
  return poll(p, nfds, timeout_ms);
}

/* blocking_lib_usleep sleeps usec microseconds. */
BLOCKING_LIB_API int blocking_lib_usleep(unsigned usec) { return usleep(usec); }
