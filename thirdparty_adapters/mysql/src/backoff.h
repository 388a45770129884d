// detail::Backoff: while the server is down, acquirers that need a new connection fail at
// once instead of each waiting out a connect timeout; after a growing delay one of them
// (one at a time) tries again. Shared by every thread of a Pool (thread-safe).
//
// States: up (connects go ahead) -> down (a connect failed: refuse until retry_at) ->
// probing (retry_at passed, one caller is connecting; the others are refused) -> up on its
// success, down again on its failure. The delay follows what a failed try cost: one that
// took time (a timeout: the server is stopped or unreachable) starts at `initial` and
// doubles up to `max`; one refused at once (the server is down, or full) waits 4x its cost
// (at least 1 ms, at most `initial`), so a restarted server is seen within about a
// millisecond while many acquirers still send one connect at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "cofcgi/runtime/wait_queue.h"

namespace co::mysql::detail {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max) {}

  enum class Admit { go, refuse };
  // admit says whether the caller may connect now. On refuse, `why` says since when and
  // with what error the server is unreachable, and when the next try is.
  Admit admit(std::string& why, unsigned& code);
  void succeeded();
  // failed: a connect that took `took` failed with `code`/`error`.
  void failed(unsigned code, const std::string& error, std::chrono::nanoseconds took);

 private:
  enum class State { up, down, probing };
  std::mutex mu_;
  State state_ = State::up;
  std::chrono::milliseconds initial_, max_, delay_{0};
  Deadline retry_at_ = 0;
  unsigned last_code_ = 0;
  std::string last_error_;
};

}  // namespace co::mysql::detail
