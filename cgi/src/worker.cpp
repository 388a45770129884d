#include "worker.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>

#include "cofcgi/runtime/log.h"

namespace co::cgi::detail {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

bool numeric(const std::string& text, unsigned long* out) {
  char* end = nullptr;
  *out = std::strtoul(text.c_str(), &end, 10);
  return !text.empty() && *end == '\0';
}

// Credentials: what a worker becomes (resolve_credentials), applied by drop_privileges.
struct Credentials {
  bool change = false;
  uid_t uid = 0;
  gid_t gid = 0;
  bool set_uid = false;
  std::string user_name;  // for initgroups: the user's supplementary groups
};

Credentials resolve_credentials(const std::string& user, const std::string& group) {
  Credentials c;
  c.change = !user.empty() || !group.empty();
  c.uid = ::getuid();
  c.gid = ::getgid();
  unsigned long n = 0;
  if (!user.empty()) {
    const bool is_number = numeric(user, &n);
    const passwd* pw = is_number ? ::getpwuid(static_cast<uid_t>(n)) : ::getpwnam(user.c_str());
    if (pw == nullptr && !is_number)
      throw std::invalid_argument("--user: no user named '" + user + "'");
    c.uid = pw != nullptr ? pw->pw_uid : static_cast<uid_t>(n);
    c.gid = pw != nullptr ? pw->pw_gid : c.gid;
    c.set_uid = true;
    if (pw != nullptr) c.user_name = pw->pw_name;
  }
  if (!group.empty()) {
    const bool is_number = numeric(group, &n);
    const struct group* gr =
        is_number ? ::getgrgid(static_cast<gid_t>(n)) : ::getgrnam(group.c_str());
    if (gr == nullptr && !is_number)
      throw std::invalid_argument("--group: no group named '" + group + "'");
    c.gid = gr != nullptr ? gr->gr_gid : static_cast<gid_t>(n);
  }
  return c;
}

// drop_privileges: group first (setgid needs the privilege setuid gives up), with the
// user's supplementary groups.
void drop_privileges(const Credentials& c) {
  if (!c.change) return;
  if (!c.user_name.empty() && ::initgroups(c.user_name.c_str(), c.gid) != 0) fail("initgroups");
  if (c.user_name.empty() && ::setgroups(0, nullptr) != 0 && errno != EPERM) fail("setgroups");
  if (::setgid(c.gid) != 0) fail("setgid " + std::to_string(c.gid));
  if (c.set_uid && ::setuid(c.uid) != 0) fail("setuid " + std::to_string(c.uid));
}

}  // namespace

void enter_worker(const ServerOptions& options, pid_t supervisor) {
  // SIGTERM drains like the supervisor's own request would. The lifeline pipe covers what
  // this misses (a supervisor that died before this line, or is not our parent thread).
  (void)::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != supervisor) std::_Exit(1);
  drop_privileges(resolve_credentials(options.user, options.group));
}

void check_credentials(const ServerOptions& options) {
  (void)resolve_credentials(options.user, options.group);
}

void count_request_done(ServerState& state) {
  const std::uint64_t done = state.requests_done.fetch_add(1, std::memory_order_relaxed) + 1;
  const std::size_t limit = state.options.max_requests;
  if (limit == 0 || state.options.workers == 0 || done != limit || state.stop_fd < 0) return;
  co::log_printf(co::LogLevel::info, "%zu requests served (max_requests): this worker leaves",
                 limit);
  const std::uint64_t one = 1;
  (void)!::write(state.stop_fd, &one, sizeof one);
}

void tell_serving(WorkerRole& role) {
  if (!role.ready) return;
  const char byte = 'W';
  (void)!::write(role.ready.get(), &byte, 1);
  role.ready.reset();
}

}  // namespace co::cgi::detail
