// detail::throw_if_interrupted: a call made by a coroutine that was already cancelled, or is
// past its deadline (cofcgi/runtime/cancel.h), fails before it sends anything. Its first
// wait would be refused anyway, but only after the command went out: the answer would then
// be left unread and the connection lost with it. Failing first keeps the connection in step
// with the server, so the pool keeps it (issue 14: every request nginx gave up on cost a
// connection, and the reconnects under load failed).
#pragma once

#include <cerrno>
#include <string>

#include "cofcgi/adapters/mysql.h"
#include "cofcgi/runtime/cancel.h"

namespace co::mysql::detail {

// Throws Error (code 0, SQLSTATE HY008; connection_broken() is false) naming `what`.
inline void throw_if_interrupted(const char* what) {
  const int why = co::interruption();
  if (why == 0) return;
  throw Error(
      0, "HY008",
      std::string("co::mysql: ") + what + " not started: " +
          (why == ECANCELED ? "the coroutine was cancelled" : "the coroutine's deadline passed"));
}

}  // namespace co::mysql::detail
