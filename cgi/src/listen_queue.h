// listen_queue: how many connections wait in a listening socket's accept queue, and the
// queue's size, as the kernel reports them. TCP: getsockopt(TCP_INFO) on the listener gives
// them as tcpi_unacked and tcpi_sacked (net/ipv4/tcp.c, tcp_get_info: "for a listening
// socket, unacked is the accept queue length, sacked the backlog"). Unix sockets:
// NETLINK_SOCK_DIAG with unix_diag's UDIAG_SHOW_RQLEN, whose rqueue/wqueue are the same two
// figures for a listener (net/unix/diag.c, sk_diag_show_rqlen). No ptrace, no /proc parsing.
#pragma once

#include <cstdint>
#include <optional>

namespace co::cgi::detail {

struct ListenQueue {
  std::uint32_t length = 0;    // connections accepted by the kernel, not yet by us
  std::uint32_t capacity = 0;  // the backlog the kernel applies
};

// listen_queue_of reads it for a listening TCP or unix stream socket; nothing for anything
// else or when the kernel will not say.
std::optional<ListenQueue> listen_queue_of(int listen_fd);

}  // namespace co::cgi::detail
