#include "request_registry.h"

namespace co::cgi::detail {

void RequestRegistry::add(InFlight& entry) {
  entry.prev = head_.prev;
  entry.next = &head_;
  head_.prev->next = &entry;
  head_.prev = &entry;
  ++size_;
}

void RequestRegistry::remove(InFlight& entry) {
  if (entry.next == nullptr) return;
  entry.prev->next = entry.next;
  entry.next->prev = entry.prev;
  entry.prev = entry.next = nullptr;
  --size_;
}

InFlightScope::InFlightScope(RequestRegistry& registry, InFlight& entry, RequestState& request)
    : registry_(registry), entry_(entry) {
  entry.request = &request;
  entry.coroutine = co::this_coroutine();
  entry.slow_logged = false;
  registry.add(entry);
}

}  // namespace co::cgi::detail
