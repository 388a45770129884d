#include "cares_channel.h"

#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/wait_queue.h"

namespace co::dns {
namespace {

std::atomic<std::uint64_t> g_queries_sent{0};

struct Channel {
  ares_channel ares = nullptr;
  std::uint64_t generation = 0;
  // Sockets c-ares wants watched (ARES_OPT_SOCK_STATE_CB): fd -> {read, write}.
  std::map<int, std::pair<bool, bool>> sockets;
  int pending = 0;  // queries handed to c-ares and not yet called back
  bool driver_running = false;
  bool driver_parked = false;  // in poll_fds: a new query must wake it
  int wake_fd = -1;            // eventfd, while the driver runs
  bool retired = false;        // replaced by a newer configuration; destroyed when idle
  // UDP sockets whose send reported ECONNREFUSED (see socket_functions below).
  std::set<int> refused;

  ~Channel() {
    if (ares != nullptr) ares_destroy(ares);
  }
};

// A caller's batch of queries. On the heap: a parked coroutine's stack may be copied away
// (shared stacks), and the callbacks run on the driver's stack.
struct Batch {
  co::WaitQueue done;
  std::size_t remaining = 0;
  std::vector<QueryOutcome> outcomes;
};

struct QueryContext {
  Channel* channel;
  Batch* batch;
  std::size_t index;
};

struct ThreadChannels {
  std::unique_ptr<Channel> current;
  std::vector<std::unique_ptr<Channel>> retired;

  ~ThreadChannels() {
    // At thread exit: a channel with queries outstanding still has callbacks pointing at
    // parked coroutines that will never run again; leave it rather than call them.
    if (current && current->pending > 0) (void)current.release();
    for (auto& c : retired) {
      if (c->pending > 0) (void)c.release();
    }
  }
};

thread_local ThreadChannels t_channels;

// A forked child must not share the parent's c-ares state (query ids, sockets): the forking
// thread's channels are abandoned in the child, which makes new ones on its next lookup.
// (Destroying them would run callbacks of coroutines that only the parent can resume.)
void abandon_channels_in_child() {
  ThreadChannels& t = t_channels;
  (void)t.current.release();
  for (auto& c : t.retired) (void)c.release();
  t.retired.clear();
}

[[maybe_unused]] const int g_atfork = ::pthread_atfork(nullptr, nullptr, abandon_channels_in_child);

void sock_state(void* data, ares_socket_t fd, int readable, int writable) {
  auto* c = static_cast<Channel*>(data);
  if (!readable && !writable) {
    c->sockets.erase(fd);
  } else {
    c->sockets[fd] = {readable != 0, writable != 0};
  }
  if (c->driver_parked && c->wake_fd >= 0) (void)eventfd_write(c->wake_fd, 1);
}

// c-ares's socket calls, given to it with ares_set_socket_functions. They are the plain
// calls (through the hooks, which pass non-blocking sockets straight through) plus one fix:
// a dead UDP server's "port unreachable" for one query is reported by the kernel on the next
// call on the socket, usually the send of the next query. c-ares 1.18 then fails only that
// query and leaves the earlier ones waiting for their timeout (glibc fails them at once). So
// a refused send is remembered, and the driver makes c-ares read the socket, where the
// error is reported again and c-ares drops the server for every query on it.
ares_socket_t sf_socket(int domain, int type, int protocol, void* /*data*/) {
  // With socket functions c-ares configures nothing itself (no O_NONBLOCK, no FD_CLOEXEC).
  const int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd >= 0 && type == SOCK_STREAM) {
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

int sf_close(ares_socket_t fd, void* data) {
  static_cast<Channel*>(data)->refused.erase(fd);
  return ::close(fd);
}

int sf_connect(ares_socket_t fd, const sockaddr* addr, ares_socklen_t len, void* /*data*/) {
  return ::connect(fd, addr, len);
}

ares_ssize_t sf_recvfrom(ares_socket_t fd, void* buf, size_t len, int flags, sockaddr* from,
                         ares_socklen_t* fromlen, void* data) {
  auto* c = static_cast<Channel*>(data);
  if (c->refused.count(fd) != 0) {
    errno = ECONNREFUSED;
    return -1;
  }
  return ::recvfrom(fd, buf, len, flags, from, fromlen);
}

ares_ssize_t sf_sendv(ares_socket_t fd, const iovec* iov, int iovcnt, void* data) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
  const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (n < 0 && errno == ECONNREFUSED) {
    auto* c = static_cast<Channel*>(data);
    c->refused.insert(fd);
    if (c->driver_parked && c->wake_fd >= 0) (void)eventfd_write(c->wake_fd, 1);
    errno = ECONNREFUSED;
  }
  return n;
}

const ares_socket_functions kSocketFunctions = {sf_socket, sf_close, sf_connect, sf_recvfrom,
                                                sf_sendv};

QueryOutcome::Kind kind_of(int status) {
  switch (status) {
    case ARES_ETIMEOUT: return QueryOutcome::Kind::timeout;
    case ARES_ECONNREFUSED: return QueryOutcome::Kind::conn_refused;
    case ARES_ESERVFAIL: return QueryOutcome::Kind::servfail;
    case ARES_EREFUSED: return QueryOutcome::Kind::refused;
    case ARES_ENOTIMP: return QueryOutcome::Kind::notimp;
    case ARES_EBADNAME: return QueryOutcome::Kind::bad_name;
    default: return QueryOutcome::Kind::failure;
  }
}

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  std::unique_ptr<QueryContext> q(static_cast<QueryContext*>(arg));
  QueryOutcome& out = q->batch->outcomes[q->index];
  if (abuf != nullptr && alen > 0) {
    // ares_query hands back NOERROR, NXDOMAIN and FORMERR responses with their packet.
    out.kind = QueryOutcome::Kind::packet;
    out.packet.assign(abuf, abuf + alen);
  } else {
    out.kind = kind_of(status);
  }
  --q->channel->pending;
  if (--q->batch->remaining == 0) q->batch->done.notify_one();
}

void destroy_retired(Channel* c) {
  auto& list = t_channels.retired;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [c](const std::unique_ptr<Channel>& p) { return p.get() == c; }),
             list.end());
}

int timeout_ms(Channel* c) {
  timeval tv{};
  const timeval* t = ares_timeout(c->ares, nullptr, &tv);
  if (t == nullptr) return -1;
  const long long us = static_cast<long long>(t->tv_sec) * 1000000 + t->tv_usec;
  if (us <= 0) return 0;
  return static_cast<int>(std::min<long long>((us + 999) / 1000, 24 * 3600 * 1000));
}

// The driver: runs while the channel has queries outstanding.
void drive(Channel* c) {
  std::vector<pollfd> fds;
  while (c->pending > 0) {
    // Sockets a send found refused: let c-ares read them and see the error.
    while (!c->refused.empty()) {
      const int fd = *c->refused.begin();
      ares_process_fd(c->ares, fd, ARES_SOCKET_BAD);
      c->refused.erase(fd);  // closed by now; never loop on it
    }
    if (c->pending == 0) break;
    fds.clear();
    fds.push_back(pollfd{c->wake_fd, POLLIN, 0});
    for (const auto& [fd, rw] : c->sockets) {
      short events = 0;
      if (rw.first) events |= POLLIN;
      if (rw.second) events |= POLLOUT;
      fds.push_back(pollfd{fd, events, 0});
    }
    c->driver_parked = true;
    const int n = co::poll_fds(fds.data(), fds.size(), timeout_ms(c));
    c->driver_parked = false;
    if (n < 0 && errno != EINTR) {
      co::log_printf(co::LogLevel::error, "cofcgi dns: poll on the c-ares sockets failed: errno %d",
                     errno);
    }
    if (fds[0].revents != 0) {
      eventfd_t ignored;
      (void)eventfd_read(c->wake_fd, &ignored);
    }
    bool processed = false;
    for (std::size_t i = 1; i < fds.size(); ++i) {
      const short r = fds[i].revents;
      if (r == 0 || (r & POLLNVAL)) continue;
      const bool readable = (r & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool writable = (fds[i].events & POLLOUT) && (r & (POLLOUT | POLLERR | POLLHUP));
      ares_process_fd(c->ares, readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
      processed = true;
    }
    // Timeouts (ares_process_fd also checks them whenever it runs).
    if (!processed) ares_process_fd(c->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }
  ::close(c->wake_fd);  // through the hooks: the netpoller forgets it
  c->wake_fd = -1;
  c->driver_running = false;
  if (c->retired) destroy_retired(c);
}

std::unique_ptr<Channel> make_channel(const ResolvConf& conf) {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  auto c = std::make_unique<Channel>();
  c->generation = conf.generation;
  ares_options opts{};
  int mask = 0;
  opts.flags = (conf.use_vc ? ARES_FLAG_USEVC : 0) | (conf.edns0 ? ARES_FLAG_EDNS : 0);
  mask |= ARES_OPT_FLAGS;
  opts.timeout = std::max(conf.timeout, 1) * 1000;
  mask |= ARES_OPT_TIMEOUTMS;
  opts.tries = 1;  // attempts are counted in send_queries, as glibc counts them
  mask |= ARES_OPT_TRIES;
  opts.ndots = 1;
  mask |= ARES_OPT_NDOTS;
  opts.ndomains = 0;  // the search list is applied by the caller (glibc's rules)
  mask |= ARES_OPT_DOMAINS;
  char lookups[] = "b";
  opts.lookups = lookups;
  mask |= ARES_OPT_LOOKUPS;
  opts.nsort = 0;
  mask |= ARES_OPT_SORTLIST;
  opts.nservers = 0;  // set below, with ports
  mask |= ARES_OPT_SERVERS;
  opts.sock_state_cb = sock_state;
  opts.sock_state_cb_data = c.get();
  mask |= ARES_OPT_SOCK_STATE_CB;
  mask |= conf.rotate ? ARES_OPT_ROTATE : ARES_OPT_NOROTATE;
  if (conf.edns0) {
    opts.ednspsz = 1200;  // glibc's RESOLV_EDNS_BUFFER_SIZE
    mask |= ARES_OPT_EDNSPSZ;
  }
  const int rc = ares_init_options(&c->ares, &opts, mask);
  if (rc != ARES_SUCCESS) {
    co::log_printf(co::LogLevel::error, "cofcgi dns: ares_init_options: %s", ares_strerror(rc));
    c->ares = nullptr;
    return c;
  }
  ares_set_socket_functions(c->ares, &kSocketFunctions, c.get());
  const int src = ares_set_servers_ports_csv(c->ares, conf.servers_csv.c_str());
  if (src != ARES_SUCCESS) {
    co::log_printf(co::LogLevel::error, "cofcgi dns: bad name server list \"%s\" (%s): %s",
                   conf.servers_csv.c_str(), conf.path.c_str(), ares_strerror(src));
  }
  return c;
}

Channel* channel_for(const ResolvConf& conf) {
  ThreadChannels& t = t_channels;
  if (t.current && t.current->generation != conf.generation) {
    if (t.current->pending == 0 && !t.current->driver_running) {
      t.current.reset();
    } else {
      t.current->retired = true;
      t.retired.push_back(std::move(t.current));
    }
  }
  if (!t.current) t.current = make_channel(conf);
  return t.current.get();
}

void start_or_wake_driver(Channel* c) {
  if (c->driver_running) {
    if (c->driver_parked) (void)eventfd_write(c->wake_fd, 1);
    return;
  }
  c->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->wake_fd < 0) {
    co::log_printf(co::LogLevel::error, "cofcgi dns: eventfd: errno %d", errno);
    return;
  }
  c->driver_running = true;
  co::Options options;
  options.name = "cofcgi dns driver";
  co::go(options, [c] { drive(c); });
}

}  // namespace

std::vector<QueryOutcome> send_queries(const ResolvConf& conf,
                                       const std::vector<Question>& questions) {
  auto batch = std::make_unique<Batch>();
  batch->outcomes.resize(questions.size());
  std::vector<std::size_t> todo(questions.size());
  for (std::size_t i = 0; i < todo.size(); ++i) todo[i] = i;
  const int attempts = std::max(conf.attempts, 1);
  for (int attempt = 0; attempt < attempts && !todo.empty(); ++attempt) {
    Channel* c = channel_for(conf);
    if (c->ares == nullptr) {
      for (std::size_t i : todo) batch->outcomes[i].kind = QueryOutcome::Kind::failure;
      break;
    }
    batch->remaining = todo.size();
    for (std::size_t i : todo) {
      ++c->pending;
      g_queries_sent.fetch_add(1, std::memory_order_relaxed);
      // May call back at once (a name it cannot encode, no servers).
      ares_query(c->ares, questions[i].name.c_str(), 1 /* C_IN */, questions[i].type, on_answer,
                 new QueryContext{c, batch.get(), i});
    }
    if (c->pending > 0) start_or_wake_driver(c);
    while (batch->remaining > 0) {
      if (!c->driver_running) {
        // No driver could be started: give up on what is left.
        ares_cancel(c->ares);
        continue;
      }
      batch->done.wait();
    }
    // Another round over the servers for what failed on the server side, as res_send does;
    // once any response came in, a partial answer is what glibc returns too.
    std::vector<std::size_t> again;
    bool any_packet = false;
    for (std::size_t i = 0; i < batch->outcomes.size(); ++i) {
      any_packet |= batch->outcomes[i].kind == QueryOutcome::Kind::packet;
    }
    for (std::size_t i : todo) {
      const auto k = batch->outcomes[i].kind;
      if (k == QueryOutcome::Kind::timeout || k == QueryOutcome::Kind::conn_refused ||
          k == QueryOutcome::Kind::servfail || k == QueryOutcome::Kind::refused ||
          k == QueryOutcome::Kind::notimp) {
        again.push_back(i);
      }
    }
    if (any_packet) break;
    todo = std::move(again);
  }
  return std::move(batch->outcomes);
}

void release_thread_channel() {
  ThreadChannels& t = t_channels;
  if (t.current && t.current->pending == 0 && !t.current->driver_running) t.current.reset();
}

std::uint64_t queries_sent() { return g_queries_sent.load(std::memory_order_relaxed); }

}  // namespace co::dns
