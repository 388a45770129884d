#include "cares_lookup.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <utility>

#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "system_config.h"

namespace co::dns {
namespace {

std::atomic<std::uint64_t> g_packets{0};

// This thread's template channel: c-ares's reading of resolv.conf, copied for each lookup.
struct Template {
  ares_channel channel = nullptr;
  std::uint64_t generation = 0;
  ~Template() {
    if (channel != nullptr) ares_destroy(channel);
  }
};
thread_local std::unique_ptr<Template> t_template;

ares_channel template_channel() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  const std::shared_ptr<const ResolverSettings> s = resolver_settings();
  if (t_template && t_template->generation == s->generation) return t_template->channel;
  auto t = std::make_unique<Template>();
  t->generation = s->generation;
  ares_options opts{};
  char lookups[] = "b";  // DNS only: /etc/hosts names never get here
  opts.lookups = lookups;
  opts.flags = s->ares_flags;
  opts.timeout = s->timeout_ms;
  opts.tries = s->tries;
  opts.resolvconf_path = const_cast<char*>(s->resolv_conf.c_str());
  int rc = ares_init_options(&t->channel, &opts,
                             ARES_OPT_LOOKUPS | ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS |
                                 ARES_OPT_TRIES | ARES_OPT_RESOLVCONF);
  if (rc == ARES_SUCCESS && !s->servers_csv.empty()) {
    rc = ares_set_servers_ports_csv(t->channel, s->servers_csv.c_str());
    if (rc != ARES_SUCCESS) {
      co::log_printf(co::LogLevel::error, "cofcgi dns: bad name server list \"%s\" (%s): %s",
                     s->servers_csv.c_str(), kDnsServersEnv, ares_strerror(rc));
    }
  }
  if (rc != ARES_SUCCESS) {
    co::log_printf(co::LogLevel::error, "cofcgi dns: c-ares channel: %s", ares_strerror(rc));
    if (t->channel != nullptr) ares_destroy(t->channel);
    t->channel = nullptr;  // lookups fail with EAI_AGAIN / TRY_AGAIN until this changes
  }
  t_template = std::move(t);
  return t_template->channel;
}

// One lookup's channel, driven by the coroutine that owns it.
class Lookup {
 public:
  Lookup() {
    ares_channel t = template_channel();
    if (t == nullptr || ares_dup(&channel_, t) != ARES_SUCCESS) {
      channel_ = nullptr;
      return;
    }
    ares_set_socket_functions(channel_, &kSocketFunctions, this);
  }
  // Destroying the channel ends what is still outstanding (callbacks get
  // ARES_EDESTRUCTION) and closes its sockets.
  ~Lookup() {
    if (channel_ != nullptr) ares_destroy(channel_);
  }
  Lookup(const Lookup&) = delete;
  Lookup& operator=(const Lookup&) = delete;

  ares_channel channel() const { return channel_; }

  // run drives the channel until `*done`; false with errno ECANCELED/ETIMEDOUT when the
  // coroutine's wait is ended first.
  bool run(const bool* done) {
    while (!*done) {
      for (const int fd : std::exchange(refused_, {})) {
        ares_process_fd(channel_, fd, ARES_SOCKET_BAD);  // see sf_sendv
      }
      if (*done) break;
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      const int bits = ares_getsock(channel_, socks, ARES_GETSOCK_MAXNUM);
      pollfd fds[ARES_GETSOCK_MAXNUM];
      nfds_t n = 0;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        const short events = static_cast<short>((ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) |
                                                (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0));
        if (events != 0) fds[n++] = pollfd{socks[i], events, 0};
      }
      if (co::poll_fds(fds, n, timeout_ms()) < 0 && (errno == ECANCELED || errno == ETIMEDOUT)) {
        return false;
      }
      bool processed = false;
      for (nfds_t i = 0; i < n; ++i) {
        const short r = fds[i].revents;
        if (r == 0 || (r & POLLNVAL)) continue;
        const bool readable = (r & (POLLIN | POLLERR | POLLHUP)) != 0;
        const bool writable = (fds[i].events & POLLOUT) && (r & (POLLOUT | POLLERR | POLLHUP));
        ares_process_fd(channel_, readable ? fds[i].fd : ARES_SOCKET_BAD,
                        writable ? fds[i].fd : ARES_SOCKET_BAD);
        processed = true;
      }
      if (!processed) ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
    }
    return true;
  }

 private:
  int timeout_ms() const {
    timeval tv{};
    const timeval* t = ares_timeout(channel_, nullptr, &tv);
    if (t == nullptr) return 1000;  // nothing outstanding: only a callback is due
    const long long ms = (static_cast<long long>(t->tv_sec) * 1000000 + t->tv_usec + 999) / 1000;
    return static_cast<int>(std::clamp<long long>(ms, 0, 3600 * 1000));
  }

  // c-ares's socket calls (ares_set_socket_functions): the plain calls, non-blocking, plus
  // one fix. A dead UDP server's "port unreachable" for one query is reported by the kernel
  // on the next call on the socket, usually the send of the next query (the AAAA after the
  // A); c-ares 1.18 then fails only that query and leaves the others to time out, where
  // glibc fails them at once. So a refused send is remembered and the socket read (run()):
  // the read reports the refusal again and c-ares drops the server for every query.
  static ares_socket_t sf_socket(int domain, int type, int protocol, void*) {
    const int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    const int one = 1;
    if (fd >= 0 && type == SOCK_STREAM) {
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
  }
  static int sf_close(ares_socket_t fd, void* self) {
    auto& refused = static_cast<Lookup*>(self)->refused_;
    refused.erase(std::remove(refused.begin(), refused.end(), fd), refused.end());
    return ::close(fd);  // through the hooks: the netpoller forgets it
  }
  static int sf_connect(ares_socket_t fd, const sockaddr* addr, ares_socklen_t len, void*) {
    return ::connect(fd, addr, len);
  }
  static ares_ssize_t sf_recvfrom(ares_socket_t fd, void* buf, size_t len, int flags,
                                  sockaddr* from, ares_socklen_t* fromlen, void* self) {
    const auto& refused = static_cast<Lookup*>(self)->refused_;
    if (std::find(refused.begin(), refused.end(), fd) != refused.end()) {
      errno = ECONNREFUSED;
      return -1;
    }
    return ::recvfrom(fd, buf, len, flags, from, fromlen);
  }
  static ares_ssize_t sf_sendv(ares_socket_t fd, const iovec* iov, int iovcnt, void* self) {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n >= 0) g_packets.fetch_add(1, std::memory_order_relaxed);
    if (n < 0 && errno == ECONNREFUSED) static_cast<Lookup*>(self)->refused_.push_back(fd);
    return n;
  }
  static constexpr ares_socket_functions kSocketFunctions = {sf_socket, sf_close, sf_connect,
                                                             sf_recvfrom, sf_sendv};

  ares_channel channel_ = nullptr;
  std::vector<int> refused_;
};

// start(channel, callback_arg) issues the query; the callback sets *done.
template <typename Start>
Outcome run_lookup(Outcome* outcome, bool* done, Start start) {
  Lookup lookup;
  if (lookup.channel() == nullptr) {
    outcome->status = ARES_ENOTINITIALIZED;
    return *outcome;
  }
  start(lookup.channel());
  if (!lookup.run(done)) outcome->interrupted = errno;
  return *outcome;
}

}  // namespace

Outcome resolve_name(const char* name, int family, bool sort, AresAddrinfo* result) {
  struct State {
    Outcome outcome;
    bool done = false;
    AresAddrinfo* result;
  } st{Outcome{}, false, result};
  ares_addrinfo_hints hints{};
  hints.ai_family = family;
  hints.ai_flags = sort ? 0 : ARES_AI_NOSORT;
  auto on_done = [](void* arg, int status, int, ares_addrinfo* ai) {
    auto* s = static_cast<State*>(arg);
    s->result->reset(ai);
    if (s->done) return;  // destroyed after the wait was ended
    s->outcome.status = status;
    s->done = true;
  };
  return run_lookup(&st.outcome, &st.done, [&](ares_channel c) {
    ares_getaddrinfo(c, name, nullptr, &hints, on_done, &st);
  });
}

Outcome resolve_address(const void* addr, int len, int family, std::string* name,
                        std::vector<std::string>* aliases) {
  // The PTR query and ares_parse_ptr_reply rather than ares_gethostbyaddr, which reports
  // every failure (a dead server too) as ARES_ENOTFOUND.
  const auto* b = static_cast<const unsigned char*>(addr);
  std::string qname;
  char part[8];
  for (int i = len - 1; i >= 0; --i) {
    if (family == AF_INET) {
      std::snprintf(part, sizeof part, "%u.", b[i]);
    } else {
      std::snprintf(part, sizeof part, "%x.%x.", b[i] & 0xf, b[i] >> 4);
    }
    qname += part;
  }
  qname += family == AF_INET ? "in-addr.arpa" : "ip6.arpa";
  std::vector<unsigned char> packet;
  Outcome o = query(qname.c_str(), 1 /* C_IN */, 12 /* T_PTR */, false, &packet);
  if (o.interrupted != 0 || o.status != ARES_SUCCESS) return o;
  hostent* h = nullptr;
  o.status =
      ares_parse_ptr_reply(packet.data(), static_cast<int>(packet.size()), addr, len, family, &h);
  if (o.status != ARES_SUCCESS) return o;
  *name = h->h_name;
  for (char** a = h->h_aliases; a != nullptr && *a != nullptr; ++a) {
    if (*name != *a) aliases->push_back(*a);  // c-ares lists every PTR name, the first too
  }
  ares_free_hostent(h);
  return o;
}

Outcome query(const char* name, int dns_class, int type, bool search,
              std::vector<unsigned char>* packet) {
  struct State {
    Outcome outcome;
    bool done = false;
    std::vector<unsigned char>* packet;
  } st{Outcome{}, false, packet};
  auto on_done = [](void* arg, int status, int, unsigned char* abuf, int alen) {
    auto* s = static_cast<State*>(arg);
    if (s->done) return;
    s->outcome.status = status;
    s->done = true;
    if (abuf != nullptr && alen > 0) s->packet->assign(abuf, abuf + alen);
  };
  return run_lookup(&st.outcome, &st.done, [&](ares_channel c) {
    if (search) {
      ares_search(c, name, dns_class, type, on_done, &st);
    } else {
      ares_query(c, name, dns_class, type, on_done, &st);
    }
  });
}

void release_thread_template() { t_template.reset(); }

std::uint64_t packets_sent() { return g_packets.load(std::memory_order_relaxed); }

}  // namespace co::dns
