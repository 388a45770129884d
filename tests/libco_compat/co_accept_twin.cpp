// libco declares co_accept in no header: its programs declare it themselves, and a file that
// does so without including co_routine.h gets C++ linkage. This one links only if
// libcofcgi_hooks exports that C++-mangled twin; it then checks that the twin is accept(2):
// EAGAIN on an idle non-blocking listener, then the connection once a client connects.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int co_accept(int fd, struct sockaddr* addr, socklen_t* len);

int main() {
  int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr*)&addr, sizeof(addr)) != 0 ||
      listen(listen_fd, 4) != 0 || getsockname(listen_fd, (struct sockaddr*)&addr, &len) != 0) {
    perror("listen");
    return 1;
  }
  fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);

  if (co_accept(listen_fd, NULL, NULL) != -1 || errno != EAGAIN) {
    printf("co_accept on an idle non-blocking listener: expected -1/EAGAIN, errno %d\n", errno);
    return 1;
  }
  int client_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(client_fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
    perror("connect");
    return 1;
  }
  struct sockaddr_in peer;
  socklen_t peer_len = sizeof(peer);
  int fd = co_accept(listen_fd, (struct sockaddr*)&peer, &peer_len);
  if (fd < 0 || peer.sin_family != AF_INET) {
    printf("co_accept after connect failed: %s\n", strerror(errno));
    return 1;
  }
  close(fd);
  close(client_fd);
  close(listen_fd);
  printf("co_accept twin: OK\n");
  return 0;
}
