// The hooks library exports exactly the interposed names of hooks/src/hooked_calls.def plus
// a short allow-list of public API: nothing missing (a hook that silently stopped being
// exported stops interposing), nothing extra (a stray export interposes a libc symbol by
// accident, or leaks an internal).
#include <doctest/doctest.h>

#include <set>
#include <sstream>
#include <string>

#include "def_file.h"
#include "hooks_test_util.h"

namespace {

// The public names that are not hooks.
const std::set<std::string> kAllowed = {
    "co_accept",                          // libco's co_accept (extern "C")
    "_Z9co_acceptiP8sockaddrPj",          // its C++-linkage twin (co_accept_cxx.cpp)
    "co_set_env_list",                    // libco's per-coroutine env list
    "cofcgi_hooks_linked",                // the link anchor (link_anchor.cpp)
    "_ZN2co5hooks12set_env_listEPKPKcm",  // co::hooks::set_env_list
};

// Linker and sanitizer bookkeeping that is not part of the interface.
bool is_noise(const std::string& name) {
  static const std::set<std::string> exact = {"_init", "_fini", "_edata", "_end", "__bss_start"};
  if (exact.count(name) != 0) return true;
  for (const char* prefix : {"__odr_asan", "__asan_", "__ubsan_", "__tsan_", "__sanitizer_"}) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

struct Exported {
  char type;
  std::string name;
};

std::vector<Exported> exported() {
  int status = -1;
  const std::string out =
      hooks_test::run_command("nm -D --defined-only '" COFCGI_HOOKS_LIBRARY "'", &status);
  REQUIRE_MESSAGE(status == 0, "nm failed on " COFCGI_HOOKS_LIBRARY);
  std::vector<Exported> result;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    // "<address> <type> <name>[@[@]VERSION]"
    std::istringstream fields(line);
    std::string address, type, name;
    if (!(fields >> address >> type >> name)) continue;
    name = name.substr(0, name.find('@'));
    if (type.size() != 1 || is_noise(name)) continue;
    result.push_back(Exported{type[0], name});
  }
  return result;
}

}  // namespace

TEST_CASE("exported names: the def file lists the hooks the design requires") {
  const std::set<std::string> def = hooks_test::hooked_names();
  CHECK(def.size() >= 40);
  for (const char* required :
       {"read", "write", "connect", "accept", "accept4", "poll", "select", "epoll_wait", "close",
        "dup2", "fcntl", "fcntl64", "setsockopt", "usleep", "nanosleep", "__read_chk", "__poll_chk",
        "getenv", "setenv"}) {
    INFO(required);
    CHECK(def.count(required) == 1);
  }
}

TEST_CASE("exported names: exactly hooked_calls.def plus the allow-list, in both directions") {
  const std::set<std::string> def = hooks_test::hooked_names();
  const std::vector<Exported> syms = exported();
  REQUIRE(!syms.empty());
  std::set<std::string> names;
  for (const Exported& s : syms) names.insert(s.name);

  std::string missing;
  for (const std::string& n : def) {
    if (names.count(n) == 0) missing += n + " ";
  }
  for (const std::string& n : kAllowed) {
    if (names.count(n) == 0) missing += n + " ";
  }
  std::string extra;
  for (const std::string& n : names) {
    if (def.count(n) == 0 && kAllowed.count(n) == 0) extra += n + " ";
  }
  CHECK_MESSAGE(missing.empty(), "declared but not exported: " << missing);
  CHECK_MESSAGE(extra.empty(), "exported but neither in hooked_calls.def nor allowed: " << extra);
}

TEST_CASE("exported names: every hook is a strong function definition") {
  // A weak or data definition would not reliably take precedence over libc's.
  const std::set<std::string> def = hooks_test::hooked_names();
  std::string wrong;
  for (const Exported& s : exported()) {
    if (def.count(s.name) != 0 && s.type != 'T') wrong += s.name + "(" + s.type + ") ";
  }
  CHECK_MESSAGE(wrong.empty(), "hooks not exported as strong text symbols: " << wrong);
}
