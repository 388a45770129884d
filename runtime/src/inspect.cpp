// inspect.h: the scheduler's coroutines and what they are parked on, as a status page or a
// dump reads them. Nothing here runs on the hot path: the park only stores its WaitSite.
#include "cofcgi/runtime/inspect.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstdio>

#include "intrusive_list.h"
#include "scheduler.h"

namespace co {
namespace {

using detail::Coroutine;
using detail::Scheduler;

Coroutine* coroutine_of(CoroutineHandle h) { return static_cast<Coroutine*>(h.raw()); }

CoroutineState public_state(detail::CoState s) {
  switch (s) {
    case detail::CoState::created: return CoroutineState::created;
    case detail::CoState::running: return CoroutineState::running;
    case detail::CoState::suspended: return CoroutineState::suspended;
    case detail::CoState::parked: return CoroutineState::parked;
    case detail::CoState::ready: return CoroutineState::ready;
    case detail::CoState::done: break;
  }
  return CoroutineState::done;
}

// format_address writes "127.0.0.1:3306", "[::1]:3306" or "unix:/path" (at most size bytes).
void format_address(const sockaddr_storage& a, socklen_t len, char* out, std::size_t size) {
  char host[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a);
    ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    std::snprintf(out, size, "%s:%u", host, ntohs(in.sin_port));
  } else if (a.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
    std::snprintf(out, size, "[%s]:%u", host, ntohs(in6.sin6_port));
  } else if (a.ss_family == AF_UNIX) {
    const auto& un = reinterpret_cast<const sockaddr_un&>(a);
    const std::size_t path_len =
        len > offsetof(sockaddr_un, sun_path)
            ? static_cast<std::size_t>(len) - offsetof(sockaddr_un, sun_path)
            : 0;
    // An unnamed peer (socketpair, a client that never bound) has no path.
    if (path_len == 0 || un.sun_path[0] == '\0')
      std::snprintf(out, size, "unix (unnamed)");
    else
      std::snprintf(out, size, "unix:%.*s", static_cast<int>(path_len), un.sun_path);
  } else {
    std::snprintf(out, size, "family %d", a.ss_family);
  }
}

// describe_socket: the call a socket wait stands for and the other end, worked out now.
void describe_socket(int fd, bool reading, char* out, std::size_t size) {
  int listening = 0;
  socklen_t optlen = sizeof listening;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  char where[160] = {};
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 && listening != 0) {
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      format_address(addr, len, where, sizeof where);
    std::snprintf(out, size, "accept fd %d on %s", fd, where);
    return;
  }
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    // Not connected yet: a connect in progress waits for writability.
    std::snprintf(out, size, "%s fd %d (not connected)", reading ? "recv" : "connect", fd);
    return;
  }
  format_address(addr, len, where, sizeof where);
  std::snprintf(out, size, "%s fd %d %s %s", reading ? "recv" : "send", fd, reading ? "from" : "to",
                where);
}

}  // namespace

CoroutineHandle this_coroutine() { return CoroutineHandle(Scheduler::get().current()); }

CoroutineInfo inspect(CoroutineHandle h) {
  const Coroutine* co = coroutine_of(h);
  CoroutineInfo info;
  info.id = co->id;
  info.name = co->name;
  info.state = public_state(co->state);
  info.wait = co->wait;
  info.stack_size = co->shared == nullptr ? co->stack.usable_size() : 0;
  info.thread_main = co->is_thread_main;
  return info;
}

void for_each_coroutine(const std::function<void(CoroutineHandle)>& fn) {
  Scheduler& sched = Scheduler::get();
  const detail::ListNode& all = sched.all_coroutines();
  for (const detail::ListNode* node = all.next; node != nullptr && node != &all;) {
    const detail::ListNode* next = node->next;
    fn(CoroutineHandle(detail::container_of<Coroutine, &Coroutine::all_link>(
        const_cast<detail::ListNode*>(node))));
    node = next;
  }
}

void describe_wait(const CoroutineInfo& info, char* out, std::size_t size) {
  if (size == 0) return;
  out[0] = '\0';
  if (info.state != CoroutineState::parked) return;
  const WaitSite& w = info.wait;
  const bool reading = (w.events & POLLIN) != 0;
  switch (w.kind) {
    case WaitKind::none: std::snprintf(out, size, "co:: primitive"); return;
    case WaitKind::sleep: std::snprintf(out, size, "sleep"); return;
    case WaitKind::poll:
      // One fd (libmariadb, OpenSSL and libcurl wait with poll before they read): said the
      // way a wait_fd is, since what it waits for is the same recv or send.
      if (w.fd_count == 1) break;
      std::snprintf(out, size, "poll %u fds (first fd %d)", w.fd_count, w.fd);
      return;
    case WaitKind::fd: break;
  }
  struct stat st {};
  if (::fstat(w.fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
    describe_socket(w.fd, reading, out, size);
    return;
  }
  std::snprintf(out, size, "%s fd %d", reading ? "read" : "write", w.fd);
}

const ThreadActivity& this_thread_activity() {
  ThreadActivity& a = Scheduler::get().activity();
  a.thread = ::pthread_self();
  return a;
}

StackFigures stack_figures() {
  StackFigures f;
  for_each_coroutine([&f](CoroutineHandle h) {
    const Coroutine* co = coroutine_of(h);
    ++f.coroutines;
    if (co->shared == nullptr) f.stack_bytes_in_use += co->stack.usable_size();
  });
  f.stack_bytes_pooled = Scheduler::get().stack_pool().pooled_bytes();
  return f;
}

}  // namespace co
