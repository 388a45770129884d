// Every libc function the libraries users call import is either hooked (hooked_calls.def)
// or reviewed (hooks/imports_reviewed.txt, with a reason). A new blocking entry point in a
// library update (the way fcntl64 appeared in glibc 2.28) then fails here instead of
// silently blocking a thread full of coroutines. A library that is not installed fails
// too: scripts/test installs them all.
#include <doctest/doctest.h>
#include <elf.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "def_file.h"
#include "hooks_test_util.h"

namespace {

struct Library {
  const char* soname;
  const char* debian_package;  // what provides it (and its -dev package for scripts/test)
};

const Library kLibraries[] = {
    {"libmariadb.so.3", "libmariadb3 (libmariadb-dev)"},
    {"libssl.so.3", "libssl3 (libssl-dev)"},
    {"libcrypto.so.3", "libssl3 (libssl-dev)"},
    {"libcurl.so.4", "libcurl4 (libcurl4-openssl-dev)"},
    {"libcares.so.2", "libc-ares2 (libc-ares-dev)"},
    {"libfcgi.so.0", "libfcgi0ldbl (libfcgi-dev)"},
};

// reviewed_names parses imports_reviewed.txt: "name  reason", '#' comments. Lines without a
// reason are reported in *bad.
std::map<std::string, std::string> reviewed_names(std::string* bad) {
  std::ifstream in(COFCGI_IMPORTS_REVIEWED);
  REQUIRE_MESSAGE(in.good(), "cannot read " COFCGI_IMPORTS_REVIEWED);
  std::map<std::string, std::string> names;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    // "name" then at least two blanks, then the reason.
    const auto gap = line.find("  ");
    const std::string name = gap == std::string::npos ? line : line.substr(0, gap);
    const std::string reason = gap == std::string::npos ? "" : hooks_test::trim(line.substr(gap));
    if (hooks_test::is_identifier(name) && !reason.empty()) {
      names[name] = reason;
    } else {
      *bad += "line " + std::to_string(number) + ": '" + line + "'\n";
    }
  }
  return names;
}

// The ELF class and machine of this process: a library of another ABI (an i386 copy listed
// by ldconfig) is not the one users link.
bool same_abi(const std::string& path) {
  auto header = [](const std::string& p, Elf64_Ehdr* h) {
    std::ifstream f(p, std::ios::binary);
    return static_cast<bool>(f.read(reinterpret_cast<char*>(h), sizeof *h));
  };
  Elf64_Ehdr self{}, lib{};
  if (!header("/proc/self/exe", &self) || !header(path, &lib)) return false;
  return lib.e_ident[EI_CLASS] == self.e_ident[EI_CLASS] && lib.e_machine == self.e_machine;
}

// find_library asks ldconfig's cache for soname; "" when not installed.
std::string find_library(const std::string& soname) {
  int status = -1;
  const std::string out =
      hooks_test::run_command("ldconfig -p 2>/dev/null || /sbin/ldconfig -p", &status);
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    // "\tlibssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3"
    std::istringstream fields(line);
    std::string name;
    if (!(fields >> name) || name != soname) continue;
    const auto arrow = line.find("=> ");
    if (arrow == std::string::npos) continue;
    const std::string path = line.substr(arrow + 3);
    if (same_abi(path)) return path;
  }
  return "";
}

// glibc_imports lists the undefined GLIBC-versioned symbols of a library (nm -D).
std::set<std::string> glibc_imports(const std::string& path) {
  int status = -1;
  const std::string out = hooks_test::run_command("nm -D --undefined-only '" + path + "'", &status);
  REQUIRE_MESSAGE(status == 0, "nm failed on " << path);
  std::set<std::string> names;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    // "                 U read@GLIBC_2.2.5" (w for weak)
    std::istringstream fields(line);
    std::string type, sym;
    if (!(fields >> type >> sym)) continue;
    const auto at = sym.find('@');
    if (at == std::string::npos || sym.find("GLIBC_", at) == std::string::npos) continue;
    names.insert(sym.substr(0, at));
  }
  return names;
}

}  // namespace

TEST_CASE("import table: imports_reviewed.txt is well formed and does not shadow hooks") {
  std::string bad;
  const auto reviewed = reviewed_names(&bad);
  CHECK_MESSAGE(bad.empty(), "lines without 'name  reason':\n" << bad);
  CHECK(reviewed.size() > 50);
  const auto hooked = hooks_test::hooked_names();
  std::string both;
  for (const auto& [name, reason] : reviewed) {
    if (hooked.count(name) != 0) both += name + " ";
  }
  CHECK_MESSAGE(both.empty(), "hooked and also listed as reviewed (pick one): " << both);
}

TEST_CASE("import table: every libc import of the user-facing libraries is hooked or reviewed") {
  const auto hooked = hooks_test::hooked_names();
  std::string bad;
  const auto reviewed = reviewed_names(&bad);
  std::set<std::string> seen;
  for (const Library& lib : kLibraries) {
    INFO(lib.soname);
    const std::string path = find_library(lib.soname);
    CHECK_MESSAGE(!path.empty(), lib.soname << " is not installed (Debian: " << lib.debian_package
                                            << "); scripts/test installs it");
    if (path.empty()) continue;
    const auto imports = glibc_imports(path);
    CHECK_MESSAGE(imports.size() > 5, "suspiciously few GLIBC imports in " << path);
    std::string unreviewed;
    for (const std::string& name : imports) {
      seen.insert(name);
      if (hooked.count(name) == 0 && reviewed.count(name) == 0) unreviewed += "  " + name + "\n";
    }
    CHECK_MESSAGE(unreviewed.empty(),
                  path << " imports libc calls that are neither hooked (hooks/src/hooked_calls.def)"
                       << " nor reviewed (hooks/imports_reviewed.txt):\n"
                       << unreviewed);
  }
  // Entries no installed library imports any more are harmless (another distribution's
  // build may import them); list them so they can be pruned.
  std::string unused;
  for (const auto& [name, reason] : reviewed) {
    if (seen.count(name) == 0) unused += name + " ";
  }
  if (!unused.empty()) MESSAGE("reviewed but not imported by the installed libraries: " << unused);
}

TEST_CASE(
    "import table: the blocking calls the libraries really make are hooked, not just reviewed") {
  // The calls that park in practice: libmariadb's socket I/O and poll, libssl/libcrypto's
  // BIO socket I/O, libcurl's connect and poll, c-ares' UDP/TCP, libfcgi's accept/read/write/
  // select. If one of these ends up only 'reviewed', the review is wrong.
  const auto hooked = hooks_test::hooked_names();
  for (const char* name :
       {"read",    "write",    "recv",       "send",       "recvfrom",   "sendto",
        "recvmsg", "sendmsg",  "readv",      "writev",     "connect",    "accept",
        "poll",    "select",   "close",      "fcntl",      "fcntl64",    "setsockopt",
        "socket",  "shutdown", "__read_chk", "__poll_chk", "__recv_chk", "__recvfrom_chk"}) {
    INFO(name);
    CHECK(hooked.count(name) == 1);
  }
}
