// RequestRegistry: a thread's requests whose handler runs, for the status page's ?full, the
// slow log and the coroutine dump. Intrusive (each RequestState embeds its InFlight entry),
// so registering costs two pointer writes and no allocation; only its own thread touches it
// (other threads ask through the thread's executor, status_gather.h).
#pragma once

#include <cstddef>

#include "cofcgi/runtime/inspect.h"

namespace co::cgi::detail {

struct RequestState;

// InFlight: a request's entry, embedded in its RequestState.
struct InFlight {
  InFlight* prev = nullptr;
  InFlight* next = nullptr;
  RequestState* request = nullptr;
  co::CoroutineHandle coroutine;  // the handler's
  bool slow_logged = false;       // the slow log had its say (slow_log.h)
};

class RequestRegistry {
 public:
  RequestRegistry() { head_.prev = head_.next = &head_; }
  RequestRegistry(const RequestRegistry&) = delete;
  RequestRegistry& operator=(const RequestRegistry&) = delete;

  void add(InFlight& entry);
  void remove(InFlight& entry);
  std::size_t size() const { return size_; }

  // for_each visits every entry, oldest first; fn must not add or remove entries.
  template <typename Fn>
  void for_each(Fn&& fn) {
    for (InFlight* e = head_.next; e != &head_; e = e->next) fn(*e);
  }

 private:
  InFlight head_;
  std::size_t size_ = 0;
};

// InFlightScope registers the calling coroutine's request for the length of its handler.
class InFlightScope {
 public:
  InFlightScope(RequestRegistry& registry, InFlight& entry, RequestState& request);
  ~InFlightScope() { registry_.remove(entry_); }
  InFlightScope(const InFlightScope&) = delete;
  InFlightScope& operator=(const InFlightScope&) = delete;

 private:
  RequestRegistry& registry_;
  InFlight& entry_;
};

}  // namespace co::cgi::detail
