// Shared by the libcurl tests (one binary): the executable's own pthread_join, which times
// every join made inside a coroutine (libcurl joins its resolver threads from the coroutine
// that ran the transfer; pthread_join is not a hooked call: it blocks the thread).
#pragma once

namespace curl_test {

// longest_coroutine_join_ms: the longest pthread_join made in a coroutine since the last
// reset; coroutine_joins: how many there were.
double longest_coroutine_join_ms();
int coroutine_joins();
void reset_join_stats();

}  // namespace curl_test
