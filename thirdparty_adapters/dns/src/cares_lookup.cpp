#include "cares_lookup.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <utility>

#include "cofcgi/adapters/dns.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "system_config.h"

namespace co::dns {
namespace {

std::atomic<std::uint64_t> g_packets{0};

using Channel = std::unique_ptr<std::remove_pointer_t<ares_channel>, decltype(&ares_destroy)>;

// This thread's template channel: c-ares's reading of resolv.conf, copied for each lookup.
struct Template {
  Channel channel{nullptr, ares_destroy};
  std::shared_ptr<const ResolverSettings> settings;  // it was made from
};
thread_local Template t_template;

// template_channel returns this thread's template, made again when the settings changed;
// null when c-ares cannot make one (lookups then fail with EAI_AGAIN / TRY_AGAIN).
ares_channel template_channel() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  const std::shared_ptr<const ResolverSettings> s = resolver_settings();
  if (t_template.settings == s) return t_template.channel.get();
  t_template = Template{{nullptr, ares_destroy}, s};
  ares_options opts{};
  char lookups[] = "b";  // DNS only: /etc/hosts names never get here
  opts.lookups = lookups;
  opts.flags = s->ares_flags;
  opts.timeout = s->timeout_ms;
  opts.tries = s->tries;
  opts.resolvconf_path = const_cast<char*>(s->resolv_conf.c_str());
  ares_channel c = nullptr;
  int rc = ares_init_options(&c, &opts,
                             ARES_OPT_LOOKUPS | ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS |
                                 ARES_OPT_TRIES | ARES_OPT_RESOLVCONF);
  t_template.channel.reset(c);
  if (rc == ARES_SUCCESS && !s->servers_csv.empty()) {
    rc = ares_set_servers_ports_csv(c, s->servers_csv.c_str());
  }
  if (rc != ARES_SUCCESS) {
    co::log_printf(co::LogLevel::error, "cofcgi dns: c-ares channel (%s, %s=\"%s\"): %s",
                   s->resolv_conf.c_str(), kDnsServersEnv, s->servers_csv.c_str(),
                   ares_strerror(rc));
    t_template.channel.reset();
  }
  return t_template.channel.get();
}

// c-ares's socket calls (ares_set_socket_functions): the plain ones, non-blocking (the hooks
// then pass them straight through), counting the packets sent.
ares_socket_t sf_socket(int domain, int type, int protocol, void*) {
  return ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
}
int sf_close(ares_socket_t fd, void*) { return ::close(fd); }  // the netpoller forgets it
int sf_connect(ares_socket_t fd, const sockaddr* addr, ares_socklen_t len, void*) {
  return ::connect(fd, addr, len);
}
ares_ssize_t sf_recvfrom(ares_socket_t fd, void* buf, size_t len, int flags, sockaddr* from,
                         ares_socklen_t* fromlen, void*) {
  return ::recvfrom(fd, buf, len, flags, from, fromlen);
}
ares_ssize_t sf_sendv(ares_socket_t fd, const iovec* iov, int iovcnt, void*) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
  const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (n >= 0) ++g_packets;
  return n;
}
constexpr ares_socket_functions kSocketFunctions = {sf_socket, sf_close, sf_connect, sf_recvfrom,
                                                    sf_sendv};

// drive runs the channel until `*done`; false with errno ECANCELED/ETIMEDOUT when the
// coroutine's wait is ended first.
bool drive(ares_channel channel, const bool* done) {
  while (!*done) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    const int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      const int events = (ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) |
                         (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0);
      if (events != 0) fds[n++] = pollfd{socks[i], static_cast<short>(events), 0};
    }
    // c-ares's next timeout, at most a second (with nothing outstanding only a callback is due)
    timeval max{1, 0}, tv{};
    const timeval* t = ares_timeout(channel, &max, &tv);
    const int timeout_ms = static_cast<int>(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
    if (co::poll_fds(fds, n, timeout_ms) < 0 && (errno == ECANCELED || errno == ETIMEDOUT)) {
      return false;
    }
    // ares_process_fd also handles the timeouts, with or without a socket ready.
    if (n == 0) ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    for (nfds_t i = 0; i < n; ++i) {
      const short r = (fds[i].revents & POLLNVAL) ? 0 : fds[i].revents;
      const bool readable = (r & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool writable = (fds[i].events & POLLOUT) && (r & (POLLOUT | POLLERR | POLLHUP));
      ares_process_fd(channel, readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
    }
  }
  return true;
}

// A lookup in flight: what its callback fills in. It lives on the calling coroutine's stack,
// which is safe: the callback runs only inside ares_* calls this coroutine makes.
template <typename Result>
struct Pending {
  int status = ARES_ENOTINITIALIZED;
  bool done = false;
  Result* result;
};

// run_lookup gives `start` a channel of the lookup's own (a copy of the template) and drives
// it. Destroying the channel ends what is still outstanding when the wait was ended early
// (callbacks get ARES_EDESTRUCTION) and closes its sockets.
template <typename Result, typename Start>
int run_lookup(Pending<Result>* p, Start start) {
  ares_channel t = template_channel();
  ares_channel channel = nullptr;
  if (t == nullptr || ares_dup(&channel, t) != ARES_SUCCESS) return p->status;
  ares_set_socket_functions(channel, &kSocketFunctions, nullptr);
  start(channel);
  const bool finished = drive(channel, &p->done);
  const int reason = errno;
  p->done = true;  // the callbacks of ares_destroy change nothing
  ares_destroy(channel);
  errno = reason;
  return finished ? p->status : ARES_ECANCELLED;
}

}  // namespace

int resolve_name(const char* name, int family, bool sort, AresAddrinfo* result) {
  Pending<AresAddrinfo> p{{}, false, result};
  ares_addrinfo_hints hints{};
  hints.ai_family = family;
  hints.ai_flags = sort ? 0 : ARES_AI_NOSORT;
  return run_lookup(&p, [&](ares_channel c) {
    ares_getaddrinfo(
        c, name, nullptr, &hints,
        [](void* arg, int status, int, ares_addrinfo* ai) {
          auto* p = static_cast<Pending<AresAddrinfo>*>(arg);
          p->result->reset(ai);
          if (!std::exchange(p->done, true)) p->status = status;
        },
        &p);
  });
}

int query(const char* name, int dns_class, int type, bool search,
          std::vector<unsigned char>* packet) {
  Pending<std::vector<unsigned char>> p{{}, false, packet};
  const ares_callback on_done = [](void* arg, int status, int, unsigned char* abuf, int alen) {
    auto* p = static_cast<Pending<std::vector<unsigned char>>*>(arg);
    if (std::exchange(p->done, true)) return;
    p->status = status;
    if (abuf != nullptr && alen > 0) p->result->assign(abuf, abuf + alen);
  };
  return run_lookup(&p, [&](ares_channel c) {
    (search ? ares_search : ares_query)(c, name, dns_class, type, on_done, &p);
  });
}

int resolve_address(const void* addr, int len, int family, HostData* result) {
  // A PTR query read with ares_parse_ptr_reply: ares_gethostbyaddr reports every failure (a
  // dead server too) as ARES_ENOTFOUND.
  const auto* b = static_cast<const unsigned char*>(addr);
  std::string qname;
  char part[8];
  for (int i = len - 1; i >= 0; --i) {
    if (family == AF_INET) std::snprintf(part, sizeof part, "%u.", b[i]);
    if (family != AF_INET) std::snprintf(part, sizeof part, "%x.%x.", b[i] & 0xf, b[i] >> 4);
    qname += part;
  }
  qname += family == AF_INET ? "in-addr.arpa" : "ip6.arpa";
  std::vector<unsigned char> packet;
  int status = query(qname.c_str(), 1 /* C_IN */, 12 /* T_PTR */, false, &packet);
  hostent* h = nullptr;
  if (status != ARES_SUCCESS) return status;
  status =
      ares_parse_ptr_reply(packet.data(), static_cast<int>(packet.size()), addr, len, family, &h);
  if (status != ARES_SUCCESS) return status;
  *result = HostData{h->h_name, {}, {std::string(static_cast<const char*>(addr), len)}, family};
  for (char** a = h->h_aliases; a != nullptr && *a != nullptr; ++a) {
    if (result->name != *a) result->aliases.push_back(*a);  // c-ares lists the first name too
  }
  ares_free_hostent(h);
  return status;
}

void release_thread_resolver() { t_template = Template{{nullptr, ares_destroy}, nullptr}; }

std::uint64_t packets_sent() { return g_packets.load(); }

}  // namespace co::dns
