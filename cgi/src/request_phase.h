// RequestPhase: the life of one FastCGI request, as one value with its transitions here.
//
//   reading_params --params complete--> running --handler returns--> finishing --> ended
//   reading_params --aborted / connection gone before the handler started--> ended
//   running        --ABORT_REQUEST (END_REQUEST sent at once) / connection gone--> aborted
//   finishing      --the last write failed--> ended
//   aborted        --handler returns--> ended
//
// Only `running` and `aborted` have a handler coroutine; in `aborted` nothing more of the
// request goes out (its END_REQUEST was sent, or its connection is gone) and its handler
// gets RequestAborted at its next read or write. The request's body has a state of its own
// (BodyStream::State): it may still arrive while the handler runs.
#pragma once

#include <cstdint>

namespace co::cgi::detail {

enum class RequestPhase : std::uint8_t { reading_params, running, finishing, aborted, ended };

// allowed_transition: the edges drawn above, and nothing else.
constexpr bool allowed_transition(RequestPhase from, RequestPhase to) {
  switch (from) {
    case RequestPhase::reading_params:
      return to == RequestPhase::running || to == RequestPhase::ended;
    case RequestPhase::running: return to == RequestPhase::finishing || to == RequestPhase::aborted;
    case RequestPhase::finishing:
    case RequestPhase::aborted: return to == RequestPhase::ended;
    case RequestPhase::ended: return false;
  }
  return false;
}

const char* phase_name(RequestPhase phase);

}  // namespace co::cgi::detail
