#include "request_state.h"

#include <stdexcept>
#include <string>

namespace co::cgi::detail {

const char* phase_name(RequestPhase phase) {
  switch (phase) {
    case RequestPhase::reading_params: return "reading_params";
    case RequestPhase::running: return "running";
    case RequestPhase::finishing: return "finishing";
    case RequestPhase::aborted: return "aborted";
    case RequestPhase::ended: return "ended";
  }
  return "?";
}

void RequestState::move_to(RequestPhase next) {
  if (!allowed_transition(phase, next)) {
    throw std::logic_error(std::string("fastcgi request: no transition from ") + phase_name(phase) +
                           " to " + phase_name(next));
  }
  phase = next;
  // ABORT_REQUEST, a web server that hung up, a response cut short: nobody reads what the
  // handler would still do, so its blocking calls fail from now on (ECANCELED).
  if (next == RequestPhase::aborted) handler.cancel();
}

}  // namespace co::cgi::detail
