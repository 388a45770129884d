// libco entry points that belong to the hooks layer. Until the interposition layer lands,
// co_set_env_list records the names (the per-coroutine environment is not private yet) and
// co_accept is accept(2), which is what libco's does for a socket co_poll found readable.
#include <sys/socket.h>

#include <mutex>
#include <string>
#include <vector>

#include "co_routine.h"

namespace {
std::mutex g_env_names_mutex;
std::vector<std::string>& env_names() {
  static std::vector<std::string> names;
  return names;
}
}  // namespace

extern "C" {

void co_set_env_list(const char* name[], size_t cnt) {
  std::lock_guard<std::mutex> lock(g_env_names_mutex);
  for (size_t i = 0; i < cnt; ++i) {
    if (name[i] != nullptr) env_names().emplace_back(name[i]);
  }
}

int co_accept(int fd, struct sockaddr* addr, socklen_t* len) { return accept(fd, addr, len); }

}  // extern "C"
