#include "helper_thread.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/unique_fd.h"
#include "real_netdb.h"

namespace co::dns {
namespace {

// One call handed to the pool, shared by the coroutine waiting for it and the thread running
// it. Its life, under `mu`:
//   queued -> running -> done        (the helper thread; done writes wake_fd)
//   queued | running -> abandoned    (the waiter gave up and closes wake_fd; nobody writes it)
// wake_fd is the waiter's to close, in its coroutine: the netpoller then forgets it.
struct Job {
  enum class State { queued, running, done, abandoned };
  std::function<void()> work;
  std::mutex mu;
  State state = State::queued;
  int wake_fd = -1;  // owned by the waiter

  // step moves from `from` to `to` (done also writes wake_fd); false when the state is another.
  bool step(State from, State to) {
    std::lock_guard<std::mutex> l(mu);
    if (state != from) return false;
    state = to;
    if (to == State::done) (void)eventfd_write(wake_fd, 1);
    return true;
  }
};

class Pool {
 public:
  // Never destroyed: detached threads may still use it while the process exits.
  static Pool& instance() {
    static Pool* pool = new Pool;
    return *pool;
  }

  enum class Submitted { queued, full, no_thread };

  // submit queues the job, starting a thread if none is free and the bound allows. full:
  // kHelperQueueMax jobs wait already (the helpers are stuck: fail fast, hold nothing);
  // no_thread: no thread can run it.
  Submitted submit(std::shared_ptr<Job> job) {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= kHelperQueueMax) return Submitted::full;
    queue_.push_back(std::move(job));
    if (static_cast<int>(queue_.size()) > idle_ && threads_ < kHelperThreadsMax) {
      try {
        std::thread([this] { serve(); }).detach();
        ++threads_;
      } catch (const std::system_error& e) {
        co::log_printf(co::LogLevel::warning, "cofcgi dns: no helper thread: %s", e.what());
      }
    }
    if (threads_ == 0) {
      queue_.pop_back();
      return Submitted::no_thread;
    }
    cv_.notify_one();
    return Submitted::queued;
  }

  // withdraw takes an abandoned job out of the queue, so that lookups that gave up while
  // the helpers are busy do not pile up there (a helper may have taken it already).
  void withdraw(const std::shared_ptr<Job>& job) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = std::find(queue_.begin(), queue_.end(), job);
    if (it != queue_.end()) queue_.erase(it);
  }

  std::size_t queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }

 private:
  // A forked child has none of the parent's threads: it counts afresh (what is queued is
  // served once the next call starts a thread).
  Pool() {
    ::pthread_atfork([] { instance().mu_.lock(); }, [] { instance().mu_.unlock(); },
                     [] {
                       instance().threads_ = instance().idle_ = 0;
                       instance().mu_.unlock();
                     });
  }

  void serve() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      const bool got = cv_.wait_for(lock, std::chrono::seconds(kHelperIdleSeconds),
                                    [this] { return !queue_.empty(); });
      --idle_;
      if (!got) break;
      std::shared_ptr<Job> job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      if (job->step(Job::State::queued, Job::State::running)) job->work();
      job->step(Job::State::running, Job::State::done);
      lock.lock();
    }
    --threads_;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  int threads_ = 0;
  int idle_ = 0;
};

// What a call on a helper thread gave, with errno and h_errno as it left them there.
template <typename Result>
struct Answer {
  Result result;
  int err = 0;
  int herrno = 0;
};

// on_helper runs `call`, which owns copies of its arguments, on a helper thread and parks the
// calling coroutine until it has run; errno is left as the caller had it. Empty, with errno
// ECANCELED or ETIMEDOUT, when the wait was ended first, or EAGAIN when the queue is full.
// With no eventfd or no thread at all, `call` runs here, blocking.
template <typename Call>
std::optional<Answer<std::invoke_result_t<Call&>>> on_helper(Call call) {
  using A = Answer<std::invoke_result_t<Call&>>;
  const int saved_errno = errno;
  auto out = std::make_shared<std::optional<A>>();
  auto job = std::make_shared<Job>();
  job->work = [out, call]() mutable {  // a braced list runs call() before errno is read
    out->emplace(A{call(), errno, h_errno});
  };
  co::UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  job->wake_fd = wake.get();
  const Pool::Submitted submitted =
      wake ? Pool::instance().submit(job) : Pool::Submitted::no_thread;
  if (submitted == Pool::Submitted::full) {
    errno = EAGAIN;
    return std::nullopt;
  }
  const bool queued = submitted == Pool::Submitted::queued;
  if (!queued) job->work();
  for (bool done = !queued; !done;) {
    pollfd p{wake.get(), POLLIN, 0};
    const bool ended = co::poll_fds(&p, 1, -1) < 0 && (errno == ECANCELED || errno == ETIMEDOUT);
    if (ended && job->step(Job::State::queued, Job::State::abandoned)) {
      Pool::instance().withdraw(job);  // errno (ECANCELED, ETIMEDOUT) stays
      return std::nullopt;
    }
    if (ended && job->step(Job::State::running, Job::State::abandoned)) return std::nullopt;
    std::lock_guard<std::mutex> l(job->mu);
    done = job->state == Job::State::done;
  }
  errno = saved_errno;
  return std::move(*out);
}

std::optional<std::string> copy_of(const char* s) {
  return s != nullptr ? std::optional<std::string>(s) : std::nullopt;
}

const char* c_str(const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; }

// A copy of glibc's hostent.
HostData host_data_of(const hostent* h) {
  HostData d{h->h_name != nullptr ? h->h_name : "", {}, {}, h->h_addrtype};
  for (char** a = h->h_aliases; a != nullptr && *a != nullptr; ++a) d.aliases.emplace_back(*a);
  for (char** a = h->h_addr_list; a != nullptr && *a != nullptr; ++a) {
    d.addresses.emplace_back(*a, static_cast<std::size_t>(h->h_length));
  }
  return d;
}

}  // namespace

std::size_t helper_queue_length() { return Pool::instance().queued(); }

int getaddrinfo_on_helper(const char* node, const char* service, const addrinfo* hints,
                          addrinfo** res) {
  using List = std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>;  // freed unless handed on
  std::optional<addrinfo> h;  // the four fields getaddrinfo reads
  if (hints != nullptr) {
    h = addrinfo{
        hints->ai_flags, hints->ai_family, hints->ai_socktype, hints->ai_protocol, 0, {}, {}, {}};
  }
  auto a = on_helper([n = copy_of(node), s = copy_of(service), h] {
    addrinfo* list = nullptr;
    const int rc = R().getaddrinfo(c_str(n), c_str(s), h ? &*h : nullptr, &list);
    return std::make_pair(rc, List(list, R().freeaddrinfo));
  });
  if (!a) return errno == EAGAIN ? EAI_AGAIN : EAI_SYSTEM;
  auto& [rc, list] = a->result;
  if (rc == 0) *res = list.release();
  h_errno = a->herrno;  // thread-local there: carried back
  if (rc == EAI_SYSTEM) errno = a->err;
  return rc;
}

HostCall hostent_call_on_helper(std::size_t buflen, int herrno, HostentCall call) {
  auto a = on_helper([buflen, herrno, call] {
    std::vector<char> buf(buflen);
    hostent he{};
    hostent* res = nullptr;
    HostCall c{0, herrno, 0, false, {}};
    c.rc = call(&he, buf.data(), buf.size(), &res, &c.herrno);
    c.err = errno;
    c.found = res != nullptr;
    if (c.found) c.data = host_data_of(res);
    return c;
  });
  if (!a) return HostCall{errno, errno == EAGAIN ? TRY_AGAIN : NETDB_INTERNAL, errno, false, {}};
  return std::move(a->result);
}

int getnameinfo_on_helper(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                          char* serv, socklen_t servlen, int flags) {
  std::string addr(reinterpret_cast<const char*>(sa), salen);
  if (serv == nullptr) servlen = 0;
  auto a = on_helper([addr = std::move(addr), hostlen, servlen, flags] {
    std::vector<char> h(hostlen), s(servlen);
    const int rc = R().getnameinfo(reinterpret_cast<const sockaddr*>(addr.data()),
                                   static_cast<socklen_t>(addr.size()), h.data(), hostlen,
                                   s.empty() ? nullptr : s.data(), servlen, flags);
    return std::make_tuple(rc, std::move(h), std::move(s));
  });
  if (!a) return errno == EAGAIN ? EAI_AGAIN : EAI_SYSTEM;
  auto& [rc, h, s] = a->result;
  h_errno = a->herrno;
  if (rc == 0 || rc == EAI_OVERFLOW) {
    std::memcpy(host, h.data(), hostlen);
    if (!s.empty()) std::memcpy(serv, s.data(), servlen);
  }
  if (rc == EAI_SYSTEM) errno = a->err;
  return rc;
}

}  // namespace co::dns
