// Private coroutine stacks: many live at once without exhausting mappings, reuse through the
// pool, a guard page that turns overflow into a clear report, clear errors when memory runs
// out, and rejection of absurd sizes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <system_error>

#include "cofcgi/runtime.h"
#include "leak_check.h"
#include "sanitizers.h"  // white box: COFCGI_ASAN / COFCGI_TSAN
#include "stack_pool.h"  // white box: the pool's per-size cap

namespace {

// The runtime installs its SIGSEGV handler (overflow reports) once, when the first scheduler
// is created; doctest swaps in its own handler around every test case and, at the end of it,
// restores whatever it found. Creating the scheduler here, before doctest runs anything, and
// remembering the runtime's handler lets a forked child put it back.
struct sigaction g_runtime_segv_action;
const bool g_runtime_segv_action_saved = [] {
  (void)co::stats();  // creates this thread's scheduler, which installs the handler
  return sigaction(SIGSEGV, nullptr, &g_runtime_segv_action) == 0 &&
         (g_runtime_segv_action.sa_flags & SA_SIGINFO) != 0;
}();

std::size_t count_maps_lines() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

bool guard_install_supported() {
  const long page = sysconf(_SC_PAGESIZE);
  void* p = mmap(nullptr, static_cast<std::size_t>(page) * 2, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  const bool ok = madvise(p, static_cast<std::size_t>(page), 102 /* MADV_GUARD_INSTALL */) == 0;
  munmap(p, static_cast<std::size_t>(page) * 2);
  return ok;
}

std::string read_all(int fd) {
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  return text;
}

struct ChildResult {
  int status = 0;
  std::string err;
};

// Runs body in a forked child whose stderr goes to a pipe and stdout to /dev/null; body
// ends the child itself (_exit or a signal).
template <typename Body>
ChildResult run_in_child(Body body) {
  int pipefd[2];
  REQUIRE(pipe2(pipefd, O_CLOEXEC) == 0);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(pipefd[0]);
    dup2(pipefd[1], 2);
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 1);
    body();
    _exit(100);
  }
  close(pipefd[1]);
  ChildResult r;
  r.err = read_all(pipefd[0]);
  close(pipefd[0]);
  REQUIRE(waitpid(pid, &r.status, 0) == pid);
  return r;
}

volatile int g_recursion_limit = INT_MAX;

[[gnu::noinline]] int recurse_forever(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  frame[511] = frame[0];
  if (depth >= g_recursion_limit) return frame[0];
  return recurse_forever(depth + 1) + frame[511];
}

}  // namespace

TEST_CASE("stacks: 100,000 live private-stack coroutines work and leave no leak") {
  cofcgi_test::LeakCheck leaks;
  const bool guards_free = guard_install_supported();
  // Without MADV_GUARD_INSTALL each guard costs a mapping, from a budget of about half of
  // vm.max_map_count; stay inside it there.
  const int count = guards_free ? 100000 : 20000;
  if (!guards_free) MESSAGE("kernel lacks MADV_GUARD_INSTALL: testing 20,000 coroutines instead");
  co::release_pooled_stacks();
  const co::Stats before = co::stats();
  const std::size_t maps_before = count_maps_lines();

  co::WaitGroup gate;
  gate.add(1);
  int started = 0, finished = 0;
  std::size_t maps_alive = 0;
  co::Stats alive;
  for (int i = 0; i < count; ++i) {
    co::go([&] {
      ++started;
      gate.wait();
      ++finished;
    });
  }
  co::go([&] {
    while (started < count) co::yield();
    // Every one of them is parked on the gate now, each on its own stack.
    alive = co::stats();
    maps_alive = count_maps_lines();
    gate.done();
  });
  co::run();
  CHECK(started == count);
  CHECK(finished == count);
  CHECK(alive.live_coroutines >= before.live_coroutines + static_cast<std::size_t>(count));
  CHECK(alive.stacks_in_use >= before.stacks_in_use + static_cast<std::size_t>(count));
  MESSAGE("/proc/self/maps lines: " << maps_before << " before, " << maps_alive << " with " << count
                                    << " coroutines alive");
  CHECK(maps_alive < 30000);                                // far from vm.max_map_count (65530)
  if (guards_free) CHECK(maps_alive < maps_before + 1000);  // guards cost no mapping
  // All default-size: the pool keeps its cap and unmapped the rest.
  CHECK(co::stats().stacks_pooled == co::detail::StackPool::kMaxPerSize);
  co::release_pooled_stacks();
  CHECK(co::stats().stacks_pooled == 0);
}

TEST_CASE("stacks: finished coroutines' stacks are pooled up to the cap and reused") {
  cofcgi_test::LeakCheck leaks;
  constexpr std::size_t kCap = co::detail::StackPool::kMaxPerSize;
  co::release_pooled_stacks();
  REQUIRE(co::stats().stacks_pooled == 0);

  // A first batch bigger than the cap.
  const int first = static_cast<int>(kCap) + 1000;
  int done = 0;
  {
    co::WaitGroup gate;
    gate.add(1);
    for (int i = 0; i < first; ++i) {
      co::go([&] {
        gate.wait();
        ++done;
      });
    }
    co::go([&] { gate.done(); });
    co::run();
  }
  CHECK(done == first);
  const std::size_t pooled = co::stats().stacks_pooled;
  CHECK(pooled == kCap);  // the cap, not first

  // A second batch takes its stacks from the pool: it shrinks by exactly the batch.
  constexpr int kSecond = 1000;
  std::size_t pooled_while_alive = 0, in_use_while_alive = 0;
  const std::size_t in_use_before = co::stats().stacks_in_use;
  {
    co::WaitGroup gate;
    gate.add(1);
    for (int i = 0; i < kSecond; ++i) co::go([&] { gate.wait(); });
    co::go([&] {
      co::yield();
      pooled_while_alive = co::stats().stacks_pooled;
      in_use_while_alive = co::stats().stacks_in_use;
      gate.done();
    });
    co::run();
  }
  CHECK(pooled_while_alive > 0);
  // kSecond parked ones plus the coroutine measuring, all from the pool.
  CHECK(pooled_while_alive == pooled - kSecond - 1);
  CHECK(in_use_while_alive == in_use_before + kSecond + 1);
  CHECK(co::stats().stacks_pooled == pooled);  // all back, still at the cap
  co::release_pooled_stacks();
}

TEST_CASE("stacks: overflow into the guard page reports the coroutine and dies with SIGSEGV") {
#if defined(COFCGI_ASAN) || defined(COFCGI_TSAN)
  MESSAGE("sanitizer build: the sanitizer reports stack overflows itself");
  return;
#endif
  REQUIRE_MESSAGE(g_runtime_segv_action_saved, "the runtime's SIGSEGV handler was not installed");
  const ChildResult r = run_in_child([] {
    sigaction(SIGSEGV, &g_runtime_segv_action, nullptr);  // undo doctest's handler
    co::Options options;
    options.name = "deep-recursion";
    const std::uint64_t id = co::go(options, [] { (void)recurse_forever(0); });
    dprintf(2, "child coroutine id=%llu\n", static_cast<unsigned long long>(id));
    co::run();
    _exit(0);  // not reached: the overflow kills the process
  });
  INFO("child stderr: " << r.err);
  REQUIRE(WIFSIGNALED(r.status));
  CHECK(WTERMSIG(r.status) == SIGSEGV);
  unsigned long long id = 0;
  const auto at = r.err.find("child coroutine id=");
  REQUIRE(at != std::string::npos);
  REQUIRE(std::sscanf(r.err.c_str() + at, "child coroutine id=%llu", &id) == 1);
  const std::string expected =
      "stack overflow in coroutine #" + std::to_string(id) + " deep-recursion";
  CHECK(r.err.find(expected) != std::string::npos);
}

TEST_CASE(
    "stacks: running out of address space is a std::system_error naming memory and "
    "vm.max_map_count") {
#if defined(COFCGI_ASAN) || defined(COFCGI_TSAN)
  MESSAGE("sanitizer build: its own allocator would hit RLIMIT_AS first");
  return;
#endif
  const ChildResult r = run_in_child([] {
    long vm_kib = -1;
    {
      std::ifstream status("/proc/self/status");
      for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmSize:", 0) == 0) vm_kib = std::stol(line.substr(7));
      }
    }
    if (vm_kib <= 0) _exit(5);
    const rlim_t limit = static_cast<rlim_t>(vm_kib) * 1024 + (rlim_t{64} << 20);
    const rlimit rl{limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(6);
    co::Options options;
    options.stack_size = 1 << 20;  // bigger than any heap growth, so the stack fails first
    try {
      for (int i = 0; i < 100000; ++i) co::go(options, [] {});
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      dprintf(2, "what(): %s\n", e.what());
      const bool names_limits = what.find("vm.max_map_count") != std::string::npos &&
                                what.find("memory") != std::string::npos;
      _exit(names_limits && e.code() == std::errc::not_enough_memory ? 0 : 1);
    } catch (const std::bad_alloc&) {
      _exit(2);
    }
    _exit(3);  // never ran out
  });
  INFO("child stderr: " << r.err);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
}

TEST_CASE("stacks: absurd sizes are rejected with std::system_error(EINVAL)") {
  cofcgi_test::LeakCheck leaks;
  const auto einval = std::make_error_code(std::errc::invalid_argument);
  const std::size_t sizes[] = {1, co::kMinStackSize - 1, co::kMaxStackSize + 1,
                               std::size_t{2} << 30};
  const co::LogLevel level = co::log_level();
  co::set_log_level(co::LogLevel::off);  // each rejection is logged; keep the output quiet
  for (std::size_t size : sizes) {
    CAPTURE(size);
    co::Options options;
    options.stack_size = size;
    bool threw = false;
    try {
      co::go(options, [] {});
    } catch (const std::system_error& e) {
      threw = true;
      CHECK(e.code() == einval);
    }
    CHECK(threw);
  }
  co::set_log_level(level);
  // The bounds themselves are fine.
  int ran = 0;
  for (std::size_t size : {co::kMinStackSize, std::size_t{4} << 20}) {
    co::Options options;
    options.stack_size = size;
    co::go(options, [&] { ++ran; });
  }
  co::run();
  CHECK(ran == 2);
}
