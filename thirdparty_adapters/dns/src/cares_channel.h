// One c-ares channel per thread (channels are not thread-safe before c-ares 1.23), driven by
// the thread's netpoller: while queries are outstanding a driver coroutine polls the
// channel's sockets (co::poll_fds, so it parks like any other coroutine) with ares_timeout as
// the timeout and hands readiness to ares_process_fd. Callers park on a wait queue until
// their answers are in. c-ares's own socket calls go through the hooks, but its sockets are
// non-blocking (c-ares sets O_NONBLOCK itself), so the hooks pass them straight through and
// nothing parks twice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resolver_config.h"

namespace co::dns {

struct Question {
  std::string name;  // as given to res_query (a trailing dot is allowed)
  std::uint16_t type = 0;
};

// What became of one query after every attempt.
struct QueryOutcome {
  enum class Kind {
    packet,        // a response (any rcode c-ares hands back: NOERROR, NXDOMAIN, FORMERR)
    timeout,       // no server answered in time
    conn_refused,  // every server refused (ICMP port unreachable)
    servfail,      // the servers answered SERVFAIL
    refused,       // ... REFUSED
    notimp,        // ... NOTIMP
    bad_name,      // the name cannot be put in a query
    failure,       // anything else (out of memory, channel gone)
  };
  Kind kind = Kind::failure;
  std::vector<unsigned char> packet;
};

// send_queries sends every question at once on this thread's channel and parks the calling
// coroutine until each has an outcome. Each server gets `conf.timeout` seconds per attempt,
// `conf.attempts` rounds over the servers, as glibc's res_send does (c-ares's own retries,
// which double the timeout, are not used). Call only in a coroutine whose hooks are on.
std::vector<QueryOutcome> send_queries(const ResolvConf& conf,
                                       const std::vector<Question>& questions);

// release_thread_channel destroys this thread's idle channel (none when queries are
// outstanding); the next lookup makes a new one.
void release_thread_channel();

// Number of queries handed to c-ares since the process started (all threads).
std::uint64_t queries_sent();

}  // namespace co::dns
