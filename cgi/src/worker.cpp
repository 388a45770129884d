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

// drop_privileges: group first (setgid needs the privilege setuid gives up), with the
// user's supplementary groups.
void drop_privileges(const std::string& user, const std::string& group) {
  if (user.empty() && group.empty()) return;
  unsigned long n = 0;
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  std::string user_name;
  if (!user.empty()) {
    const passwd* pw =
        numeric(user, &n) ? ::getpwuid(static_cast<uid_t>(n)) : ::getpwnam(user.c_str());
    if (pw == nullptr && !numeric(user, &n))
      throw std::invalid_argument("--user: no user named '" + user + "'");
    uid = pw != nullptr ? pw->pw_uid : static_cast<uid_t>(n);
    gid = pw != nullptr ? pw->pw_gid : gid;
    if (pw != nullptr) user_name = pw->pw_name;
  }
  if (!group.empty()) {
    const struct group* gr =
        numeric(group, &n) ? ::getgrgid(static_cast<gid_t>(n)) : ::getgrnam(group.c_str());
    if (gr == nullptr && !numeric(group, &n))
      throw std::invalid_argument("--group: no group named '" + group + "'");
    gid = gr != nullptr ? gr->gr_gid : static_cast<gid_t>(n);
  }
  if (!user_name.empty() && ::initgroups(user_name.c_str(), gid) != 0) fail("initgroups");
  if (user_name.empty() && ::setgroups(0, nullptr) != 0 && errno != EPERM) fail("setgroups");
  if (::setgid(gid) != 0) fail("setgid " + std::to_string(gid));
  if (!user.empty() && ::setuid(uid) != 0) fail("setuid " + std::to_string(uid));
}

}  // namespace

void enter_worker(const ServerOptions& options, pid_t supervisor) {
  // SIGTERM drains like the supervisor's own request would. The lifeline pipe covers what
  // this misses (a supervisor that died before this line, or is not our parent thread).
  (void)::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != supervisor) std::_Exit(1);
  drop_privileges(options.user, options.group);
}

void tell_serving(WorkerRole& role) {
  if (!role.ready) return;
  const char byte = 'W';
  (void)!::write(role.ready.get(), &byte, 1);
  role.ready.reset();
}

}  // namespace co::cgi::detail
