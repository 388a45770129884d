// ThreadMonitor: a server thread's part in monitoring, for the length of its scheduler:
// registers the thread with the ServerMonitor (so status pages can ask it for its
// requests) and runs its ticker coroutine, which samples the accept queue and runs the
// slow log. Make one in serve_thread before co::run() and let it go after.
#pragma once

namespace co::cgi::detail {

struct ThreadContext;
class ServerMonitor;

class ThreadMonitor {
 public:
  ThreadMonitor(ServerMonitor* monitor, ThreadContext& ctx);
  ~ThreadMonitor();
  ThreadMonitor(const ThreadMonitor&) = delete;
  ThreadMonitor& operator=(const ThreadMonitor&) = delete;

 private:
  ServerMonitor* monitor_;
  ThreadContext& ctx_;
};

}  // namespace co::cgi::detail
