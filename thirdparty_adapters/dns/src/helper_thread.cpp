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

// One call handed to the pool, shared by the coroutine waiting for it and the helper thread
// running it. Its life, under `mu`:
//   queued -> running -> done        (the helper thread; done writes wake_fd)
//   queued | running -> abandoned    (the waiter gave up; it closes wake_fd, nobody writes it)
struct Job {
  enum class State { queued, running, done, abandoned };
  std::function<void()> work;
  std::mutex mu;
  State state = State::queued;
  int wake_fd = -1;  // owned by the waiter
};

class Pool {
 public:
  Pool() { ::pthread_atfork(&Pool::before_fork, &Pool::after_fork_parent, &Pool::in_child); }

  // submit queues the job and starts a thread if none is free and the bound allows; false
  // when no thread can run it.
  bool submit(std::shared_ptr<Job> job) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(job));
    if (static_cast<int>(queue_.size()) > idle_ && threads_ < kHelperThreadsMax) {
      try {
        std::thread([this] { work(); }).detach();
        ++threads_;
      } catch (const std::system_error& e) {
        co::log_printf(co::LogLevel::warning, "cofcgi dns: no helper thread: %s", e.what());
      }
    }
    if (threads_ == 0) {
      queue_.pop_back();
      return false;
    }
    cv_.notify_one();
    return true;
  }

 private:
  void work() {
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

  // A forked child has none of the parent's threads: it starts counting afresh (queued jobs
  // are served once the next call starts a thread).
  static void before_fork() { instance().mu_.lock(); }
  static void after_fork_parent() { instance().mu_.unlock(); }
  static void in_child() {
    Pool& p = instance();
    p.threads_ = 0;
    p.idle_ = 0;
    p.mu_.unlock();
  }

 public:
  // Never destroyed: detached threads may still use it while the process exits.
  static Pool& instance() {
    static Pool* pool = new Pool;
    return *pool;
  }

 private:
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
  if (!wake || !Pool::instance().submit(job)) {
    job->work();
    errno = saved_errno;
    return true;
  }
  for (;;) {
    pollfd p{wake.get(), POLLIN, 0};
    if (co::poll_fds(&p, 1, -1) < 0 && (errno == ECANCELED || errno == ETIMEDOUT)) {
      const int reason = errno;
      std::lock_guard<std::mutex> l(job->mu);
      if (job->state != Job::State::done) {
        job->state = Job::State::abandoned;
        errno = reason;
        return false;
      }
    }
    std::lock_guard<std::mutex> l(job->mu);
    if (job->state == Job::State::done) break;
  }
  errno = saved_errno;
  return true;
}

}  // namespace co::dns
