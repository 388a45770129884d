#include "listen_queue.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "cofcgi/runtime/unique_fd.h"

namespace co::cgi::detail {
namespace {

std::optional<ListenQueue> tcp_queue(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  return ListenQueue{info.tcpi_unacked, info.tcpi_sacked};
}

// unix_queue asks sock_diag about the one socket whose inode fd names.
std::optional<ListenQueue> unix_queue(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  co::UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) return std::nullopt;
  struct {
    nlmsghdr header;
    unix_diag_req body;
  } request{};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.header.nlmsg_flags = NLM_F_REQUEST;
  request.body.sdiag_family = AF_UNIX;
  request.body.udiag_states = ~0U;
  request.body.udiag_ino = static_cast<std::uint32_t>(st.st_ino);
  request.body.udiag_show = UDIAG_SHOW_RQLEN;
  request.body.udiag_cookie[0] = request.body.udiag_cookie[1] = ~0U;  // INET_DIAG_NOCOOKIE
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl.get(), &request, sizeof request, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0)
    return std::nullopt;
  alignas(nlmsghdr) char reply[1024];
  const ssize_t n = ::recv(nl.get(), reply, sizeof reply, 0);
  if (n <= 0) return std::nullopt;
  auto* header = reinterpret_cast<nlmsghdr*>(reply);
  if (!NLMSG_OK(header, static_cast<unsigned>(n)) || header->nlmsg_type != SOCK_DIAG_BY_FAMILY)
    return std::nullopt;
  auto* msg = static_cast<unix_diag_msg*>(NLMSG_DATA(header));
  int left = static_cast<int>(header->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
  for (auto* attr = reinterpret_cast<rtattr*>(msg + 1); RTA_OK(attr, left);
       attr = RTA_NEXT(attr, left)) {
    if (attr->rta_type != UNIX_DIAG_RQLEN) continue;
    unix_diag_rqlen rq{};
    std::memcpy(&rq, RTA_DATA(attr), sizeof rq);
    return ListenQueue{rq.udiag_rqueue, rq.udiag_wqueue};
  }
  return std::nullopt;
}

}  // namespace

std::optional<ListenQueue> listen_queue_of(int listen_fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (listen_fd < 0 || ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return std::nullopt;
  if (addr.ss_family == AF_INET || addr.ss_family == AF_INET6) return tcp_queue(listen_fd);
  if (addr.ss_family == AF_UNIX) return unix_queue(listen_fd);
  return std::nullopt;
}

}  // namespace co::cgi::detail
