// backtrace.h and inspect.h: a parked coroutine's stack walked from its saved registers, a
// running thread sampled by a signal, and what a parked coroutine waits on.
#include "cofcgi/runtime/backtrace.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/inspect.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/sleep.h"
#include "leak_check.h"

using namespace std::chrono_literals;

namespace {

// Named frames the walks must find; noinline so that each keeps a frame of its own.
[[gnu::noinline]] void backtrace_test_sleeper(bool* done) {
  co::sleep_for(50ms);
  *done = true;
  asm volatile("" ::: "memory");  // not a tail call
}

[[gnu::noinline]] void backtrace_test_reader(int fd) {
  co::WakeReason reason;
  (void)co::wait_fd(fd, POLLIN, co::kNoDeadline, &reason);
  asm volatile("" ::: "memory");
}

[[gnu::noinline]] void backtrace_test_spinner(std::atomic<bool>* started, std::atomic<bool>* stop) {
  started->store(true);
  while (!stop->load(std::memory_order_relaxed)) asm volatile("" ::: "memory");
}

std::string names_of(const std::vector<co::StackFrame>& frames) {
  std::string all;
  for (const co::StackFrame& f : frames) all += f.function + "\n";
  return all;
}

}  // namespace

TEST_CASE("a parked coroutine's backtrace names the functions on its stack") {
  cofcgi_test::LeakCheck leaks;
  bool done = false;
  co::CoroutineHandle sleeper;
  std::string names;
  std::string formatted;
  co::go([&] {
    sleeper = co::this_coroutine();
    backtrace_test_sleeper(&done);
  });
  co::go([&] {
    co::sleep_for(10ms);  // the sleeper is parked now
    const co::CoroutineInfo info = co::inspect(sleeper);
    CHECK(info.state == co::CoroutineState::parked);
    CHECK(info.wait.kind == co::WaitKind::sleep);
    co::Backtracer tracer;
    const std::vector<co::StackFrame> frames = tracer.of_coroutine(sleeper);
    names = names_of(frames);
    formatted = co::format_frames(frames);
    // The running coroutine has no saved registers to start from.
    CHECK(tracer.of_coroutine(co::this_coroutine()).empty());
  });
  co::run();
  CHECK(done);
  INFO(formatted);
  CHECK(names.find("backtrace_test_sleeper") != std::string::npos);
  CHECK(names.find("co::sleep_until") != std::string::npos);
  CHECK(formatted.find("(api.cpp:") != std::string::npos);  // file:line from the DWARF
}

TEST_CASE("describe_wait names the call, the fd and the peer") {
  cofcgi_test::LeakCheck leaks;
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) == 0);
  co::CoroutineHandle reader;
  std::string text;
  std::size_t seen = 0;
  co::go([&] {
    reader = co::this_coroutine();
    backtrace_test_reader(pair[0]);
  });
  co::go([&] {
    co::sleep_for(10ms);
    const co::CoroutineInfo info = co::inspect(reader);
    CHECK(info.wait.kind == co::WaitKind::fd);
    CHECK(info.wait.fd == pair[0]);
    char buf[200];
    co::describe_wait(info, buf, sizeof buf);
    text = buf;
    co::for_each_coroutine([&](co::CoroutineHandle) { ++seen; });
    const co::StackFigures figures = co::stack_figures();
    CHECK(figures.coroutines == 2);
    CHECK(figures.stack_bytes_in_use >= 2 * 16 * 1024);
    (void)::write(pair[1], "x", 1);
  });
  co::run();
  CHECK(text == "recv fd " + std::to_string(pair[0]) + " from unix (unnamed)");
  CHECK(seen == 2);
  ::close(pair[0]);
  ::close(pair[1]);
}

TEST_CASE("a running thread is sampled with a signal, without stopping it for long") {
  std::atomic<bool> started{false};
  std::atomic<bool> stop{false};
  std::thread spinner([&] { backtrace_test_spinner(&started, &stop); });
  while (!started.load()) std::this_thread::yield();
  co::Backtracer tracer;
  co::ThreadSample sample;
  const bool sampled = tracer.of_thread(spinner.native_handle(), &sample, 2s);
  stop = true;
  spinner.join();
  REQUIRE(sampled);
  INFO(co::format_frames(sample.frames));
  CHECK(names_of(sample.frames).find("backtrace_test_spinner") != std::string::npos);
  CHECK(sample.coroutine_id == 0);  // it ran on its own stack
}

TEST_CASE("the heartbeat moves while coroutines switch and says when the loop sleeps") {
  const co::ThreadActivity& activity = co::this_thread_activity();
  const std::uint64_t before = activity.rounds.load();
  co::go([] {
    for (int i = 0; i < 10; ++i) co::yield();
  });
  co::run();
  CHECK(activity.rounds.load() >= before + 10);
  CHECK_FALSE(activity.sleeping.load());
}
