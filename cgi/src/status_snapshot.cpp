#include "status_snapshot.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cofcgi/cgi/request.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/unique_fd.h"
#include "request_state.h"
#include "thread_context.h"

namespace co::cgi::detail {
namespace {

const char* state_name(co::CoroutineState s) {
  switch (s) {
    case co::CoroutineState::created: return "created";
    case co::CoroutineState::running: return "running";
    case co::CoroutineState::suspended: return "suspended";
    case co::CoroutineState::parked: return "parked";
    case co::CoroutineState::ready: return "ready";
    case co::CoroutineState::done: break;
  }
  return "done";
}

// what_it_does: "recv fd 12 from 127.0.0.1:3306" for a parked coroutine, else its state.
std::string what_it_does(const co::CoroutineInfo& info) {
  if (info.state != co::CoroutineState::parked) return state_name(info.state);
  char text[256];
  co::describe_wait(info, text, sizeof text);
  return text;
}

std::string dump_coroutines(ServerMonitor& monitor) {
  std::string out;
  co::for_each_coroutine([&](co::CoroutineHandle h) {
    const co::CoroutineInfo info = co::inspect(h);
    char line[512];
    std::snprintf(line, sizeof line, "coroutine #%llu %s: %s\n",
                  static_cast<unsigned long long>(info.id), info.name ? info.name : "(unnamed)",
                  what_it_does(info).c_str());
    out += line;
    out += co::format_frames(monitor.backtracer().of_coroutine(h), "    ");
  });
  return out;
}

// Pending: one other thread's answer; shared with the job posted there, which may finish
// after the page gave up waiting.
struct Pending {
  ThreadSnapshot snapshot;
  co::UniqueFd done{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
};

}  // namespace

RequestSnapshot snapshot_request(InFlight& entry, ServerMonitor& monitor, bool backtrace,
                                 std::int64_t now_ns) {
  const Request request(entry.request);
  RequestSnapshot r;
  r.method = request.method();
  r.uri = request.uri();
  r.client = std::string(request.remote_addr());
  if (const auto port = request.param("REMOTE_PORT")) r.client += ":" + std::string(*port);
  r.seconds = static_cast<double>(now_ns - entry.request->started_ns) / 1e9;
  const co::CoroutineInfo info = co::inspect(entry.coroutine);
  r.coroutine_id = info.id;
  r.waiting = what_it_does(info);
  if (backtrace)
    r.backtrace = co::format_frames(monitor.backtracer().of_coroutine(entry.coroutine));
  return r;
}

ThreadSnapshot snapshot_thread(ThreadContext& ctx, ServerMonitor& monitor, int index,
                               unsigned parts) {
  ThreadSnapshot s;
  s.thread = index;
  s.answered = true;
  s.stats = co::stats();
  s.stacks = co::stack_figures();
  s.connections = ctx.connections.size();
  const std::int64_t now = co::now_ns();
  if (parts & kSnapshotRequests) {
    ctx.in_flight.for_each([&](InFlight& e) {
      s.requests.push_back(snapshot_request(e, monitor, (parts & kSnapshotBacktraces) != 0, now));
    });
  }
  if (parts & kSnapshotCoroutines) s.coroutines = dump_coroutines(monitor);
  return s;
}

std::vector<ThreadSnapshot> gather_threads(ServerMonitor& monitor, unsigned parts,
                                           std::chrono::milliseconds wait) {
  const std::vector<MonitoredThread> threads = monitor.threads();
  ThreadContext* self = monitor.this_thread();
  std::vector<std::shared_ptr<Pending>> pending(threads.size());
  for (std::size_t i = 0; i < threads.size(); ++i) {
    if (threads[i].ctx == self) continue;
    auto p = std::make_shared<Pending>();
    p->snapshot.thread = threads[i].index;
    ThreadContext* ctx = threads[i].ctx;
    const int index = threads[i].index;
    if (!monitor.post_to(ctx, [p, ctx, &monitor, index, parts] {
          p->snapshot = snapshot_thread(*ctx, monitor, index, parts);
          const std::uint64_t one = 1;
          (void)::write(p->done.get(), &one, sizeof one);
        }))
      continue;
    pending[i] = std::move(p);
  }
  std::vector<ThreadSnapshot> out(threads.size());
  for (std::size_t i = 0; i < threads.size(); ++i) {
    if (threads[i].ctx == self) out[i] = snapshot_thread(*self, monitor, threads[i].index, parts);
  }
  const co::Deadline give_up = co::deadline_after(wait);
  for (std::size_t i = 0; i < threads.size(); ++i) {
    if (threads[i].ctx == self) continue;
    out[i].thread = threads[i].index;
    if (pending[i] == nullptr) continue;
    pollfd p{pending[i]->done.get(), POLLIN, 0};
    const co::Deadline left = give_up - co::now_ns();
    const int ms = left <= 0 ? 0 : static_cast<int>(left / 1000000) + 1;
    if (co::poll_fds(&p, 1, ms) == 1) out[i] = std::move(pending[i]->snapshot);
  }
  return out;
}

}  // namespace co::cgi::detail
