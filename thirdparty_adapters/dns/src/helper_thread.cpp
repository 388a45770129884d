#include "helper_thread.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/unique_fd.h"

namespace co::dns {
namespace {

// One call handed to the pool, shared by the coroutine waiting for it and the thread running
// it. Its life, under `mu`:
//   queued -> running -> done        (the helper thread; done writes wake_fd)
//   queued | running -> abandoned    (the waiter gave up and closes wake_fd; nobody writes it)
struct Job {
  enum class State { queued, running, done, abandoned };
  std::function<void()> work;
  std::mutex mu;
  State state = State::queued;
  int wake_fd = -1;  // owned by the waiter
};

class Pool {
 public:
  // Never destroyed: detached threads may still use it while the process exits.
  static Pool& instance() {
    static Pool* pool = new Pool;
    return *pool;
  }

  // submit queues the job, starting a thread if none is free and the bound allows; false
  // when no thread can run it.
  bool submit(std::shared_ptr<Job> job) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(job));
    if (static_cast<int>(queue_.size()) > idle_ && threads_ < kHelperThreadsMax) {
      try {
        std::thread([this] { serve(); }).detach();
        ++threads_;
      } catch (const std::system_error& e) {
        co::log_printf(co::LogLevel::warning, "cofcgi dns: no helper thread: %s", e.what());
      }
    }
    if (threads_ == 0) queue_.pop_back();
    cv_.notify_one();
    return threads_ > 0;
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
      run(*job);
      lock.lock();
    }
    --threads_;
  }

  static void run(Job& job) {
    {
      std::lock_guard<std::mutex> l(job.mu);
      if (job.state == Job::State::abandoned) return;
      job.state = Job::State::running;
    }
    job.work();
    std::lock_guard<std::mutex> l(job.mu);
    if (job.state == Job::State::abandoned) return;
    job.state = Job::State::done;
    (void)eventfd_write(job.wake_fd, 1);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  int threads_ = 0;
  int idle_ = 0;
};

}  // namespace

bool run_on_helper_thread(std::function<void()> work) {
  const int saved_errno = errno;
  co::UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  auto job = std::make_shared<Job>();
  job->work = std::move(work);
  job->wake_fd = wake.get();
  const bool queued = wake && Pool::instance().submit(job);
  if (!queued) job->work();
  for (bool done = !queued; !done;) {
    pollfd p{wake.get(), POLLIN, 0};
    const bool ended = co::poll_fds(&p, 1, -1) < 0 && (errno == ECANCELED || errno == ETIMEDOUT);
    const int reason = errno;
    std::lock_guard<std::mutex> l(job->mu);
    done = job->state == Job::State::done;
    if (ended && !done) {
      job->state = Job::State::abandoned;
      errno = reason;
      return false;
    }
  }
  errno = saved_errno;
  return true;
}

}  // namespace co::dns
