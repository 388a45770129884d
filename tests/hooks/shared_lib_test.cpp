// The hooks interpose for calls made from inside shared libraries that know nothing about
// coroutines (blocking_lib.c, built with _FORTIFY_SOURCE like distribution libraries):
// linked normally, and loaded later with dlopen(RTLD_NOW | RTLD_LOCAL). 50 coroutines
// calling into the library at once take about one delay, not 50.
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cofcgi/runtime.h"
#include "hooks_test_util.h"
#include "leak_check.h"
#include "parking_harness.h"

extern "C" {
long blocking_lib_read(int fd, void* buf, size_t n);
int blocking_lib_read_chk(int fd, size_t n);
int blocking_lib_poll_in(int fd, int timeout_ms, nfds_t nfds);
int blocking_lib_usleep(unsigned usec);
}

using hooks_test::check;
using hooks_test::kN;
using hooks_test::run_variant;

namespace {

struct LibApi {
  decltype(&blocking_lib_read) read = nullptr;
  decltype(&blocking_lib_read_chk) read_chk = nullptr;
  decltype(&blocking_lib_poll_in) poll_in = nullptr;
  decltype(&blocking_lib_usleep) usleep = nullptr;
};

std::vector<hooks_test::Pair> socket_pairs() {
  std::vector<hooks_test::Pair> v;
  for (int i = 0; i < kN; ++i) v.push_back(hooks_test::socket_pair());
  return v;
}

std::vector<hooks_test::Pair> pipes() {
  std::vector<hooks_test::Pair> v;
  for (int i = 0; i < kN; ++i) v.push_back(hooks_test::pipe_pair());
  return v;
}

char byte_for(int i) { return static_cast<char>('A' + i % 26); }

// exercise runs the four library entry points through the parking harness.
void exercise(const LibApi& lib, const std::string& how) {
  {
    cofcgi_test::LeakCheck leaks;
    auto pairs = socket_pairs();
    const auto r = run_variant(
        [&](int i) {
          char c = 0;
          return lib.read(pairs[i].a.get(), &c, 1) == 1 && c == byte_for(i);
        },
        [&](int i) {
          const char c = byte_for(i);
          (void)!::write(pairs[i].b.get(), &c, 1);
        });
    check(r, how + ": read (socket)");
  }
  {
    cofcgi_test::LeakCheck leaks;
    auto ps = pipes();
    const auto r = run_variant([&](int i) { return lib.read_chk(ps[i].a.get(), 8) == byte_for(i); },
                               [&](int i) {
                                 const char c = byte_for(i);
                                 (void)!::write(ps[i].b.get(), &c, 1);
                               });
    check(r, how + ": __read_chk (pipe)");
  }
  {
    cofcgi_test::LeakCheck leaks;
    auto pairs = socket_pairs();
    const auto r = run_variant(
        [&](int i) {
          if (lib.poll_in(pairs[i].a.get(), 10'000, 1) != 1) return false;
          char c = 0;
          return ::read(pairs[i].a.get(), &c, 1) == 1 && c == byte_for(i);
        },
        [&](int i) {
          const char c = byte_for(i);
          (void)!::write(pairs[i].b.get(), &c, 1);
        });
    check(r, how + ": __poll_chk");
  }
  {
    cofcgi_test::LeakCheck leaks;
    const auto r = run_variant([&](int) { return lib.usleep(200'000) == 0; }, [](int) {});
    check(r, how + ": usleep");
  }
}

}  // namespace

TEST_CASE("shared lib: the library is built the way distribution libraries are (fortified)") {
  // Guards the premise of the tests below: the fortified entry points are really used.
  int status = -1;
  const std::string out =
      hooks_test::run_command("nm -D --undefined-only '" COFCGI_BLOCKING_LIB "'", &status);
  REQUIRE(status == 0);
  std::set<std::string> imports;  // names without their version (a sanitizer's are unversioned)
  std::istringstream lines(out);
  std::string type, sym;
  while (lines >> type >> sym) imports.insert(sym.substr(0, sym.find('@')));
  for (const char* name : {"__read_chk", "__poll_chk", "read", "usleep"}) {
    INFO(name);
    CHECK(imports.count(name) == 1);
  }
}

TEST_CASE("shared lib: calls from a normally linked library park only their coroutine") {
  LibApi lib{&blocking_lib_read, &blocking_lib_read_chk, &blocking_lib_poll_in,
             &blocking_lib_usleep};
  exercise(lib, "linked");
}

TEST_CASE("shared lib: calls from a library loaded with dlopen(RTLD_NOW | RTLD_LOCAL) park too") {
  void* handle = ::dlopen(COFCGI_BLOCKING_LIB_DLOPEN, RTLD_NOW | RTLD_LOCAL);
  REQUIRE_MESSAGE(handle != nullptr, ::dlerror());
  LibApi lib;
  lib.read = reinterpret_cast<decltype(lib.read)>(::dlsym(handle, "blocking_lib_read"));
  lib.read_chk = reinterpret_cast<decltype(lib.read_chk)>(::dlsym(handle, "blocking_lib_read_chk"));
  lib.poll_in = reinterpret_cast<decltype(lib.poll_in)>(::dlsym(handle, "blocking_lib_poll_in"));
  lib.usleep = reinterpret_cast<decltype(lib.usleep)>(::dlsym(handle, "blocking_lib_usleep"));
  REQUIRE((lib.read != nullptr && lib.read_chk != nullptr && lib.poll_in != nullptr &&
           lib.usleep != nullptr));
  // A second copy of the code, not the linked one.
  CHECK(reinterpret_cast<void*>(lib.read) != reinterpret_cast<void*>(&blocking_lib_read));
  Dl_info info{};
  REQUIRE(::dladdr(reinterpret_cast<void*>(lib.read), &info) != 0);
  CHECK(std::string(info.dli_fname) == COFCGI_BLOCKING_LIB_DLOPEN);
  exercise(lib, "dlopen");
  CHECK(::dlclose(handle) == 0);
}
