#include "helper_thread.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <system_error>
#include <thread>

#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"

namespace co::dns {

void run_on_helper_thread(std::function<void()> job) {
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) {
    job();
    return;
  }
  auto shared_job = std::make_shared<std::function<void()>>(std::move(job));
  // The job's results are published by this flag (release/acquire); the eventfd only wakes.
  auto done = std::make_shared<std::atomic<bool>>(false);
  try {
    std::thread([shared_job, done, efd] {
      (*shared_job)();
      done->store(true, std::memory_order_release);
      (void)eventfd_write(efd, 1);
    }).detach();
  } catch (const std::system_error& e) {
    co::log_printf(co::LogLevel::warning, "cofcgi dns: no helper thread (%s); resolving inline",
                   e.what());
    ::close(efd);
    (*shared_job)();
    return;
  }
  for (;;) {
    eventfd_t value;
    if (eventfd_read(efd, &value) == 0 && done->load(std::memory_order_acquire)) break;
    pollfd p{efd, POLLIN, 0};
    (void)co::poll_fds(&p, 1, -1);
  }
  ::close(efd);  // through the hooks: the netpoller forgets it
}

}  // namespace co::dns
