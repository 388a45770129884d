// Copy-stack mode: coroutines that take turns on a few shared stacks (libco's
// co_alloc_sharestack, co::make_shared_stacks + co::Options::shared_stacks). Every test keeps
// data in a stack buffer and checks it after each switch: a wrong save/restore shows up as a
// corrupted buffer.
#include <doctest/doctest.h>
#include <errno.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "co_routine.h"
#include "cofcgi/runtime.h"
#include "leak_check.h"

namespace {

// The buffers never escape otherwise, so without this the compiler could prove no call
// modifies them and fold the checks away.
inline void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

// A per-owner pattern: the owner's id in the first bytes, then a hash of (id, offset).
template <std::size_t N>
void fill(char (&buf)[N], std::uint32_t id) {
  std::memcpy(buf, &id, sizeof id);
  for (std::size_t i = sizeof id; i < N; ++i) {
    const std::uint32_t x = id * 2654435761u + static_cast<std::uint32_t>(i) * 40503u;
    buf[i] = static_cast<char>(x >> 13);
  }
  escape(buf);
}

template <std::size_t N>
bool intact(char (&buf)[N], std::uint32_t id) {
  escape(buf);
  std::uint32_t stored;
  std::memcpy(&stored, buf, sizeof stored);
  if (stored != id) return false;
  for (std::size_t i = sizeof id; i < N; ++i) {
    const std::uint32_t x = id * 2654435761u + static_cast<std::uint32_t>(i) * 40503u;
    if (buf[i] != static_cast<char>(x >> 13)) return false;
  }
  return true;
}

stCoRoutineAttr_t shared_attr(stShareStack_t* group) {
  stCoRoutineAttr_t attr;
  attr.share_stack = group;
  return attr;
}

struct Worker {
  std::uint32_t id = 0;
  int yields = 0;
  int checks = 0;
  int errors = 0;
  const void* buf_addr = nullptr;
  bool done = false;
};

void* worker_routine(void* arg) {
  auto* w = static_cast<Worker*>(arg);
  char buf[3000];
  fill(buf, w->id);
  w->buf_addr = buf;
  for (int y = 0; y < w->yields; ++y) {
    co_yield_ct();
    if (!intact(buf, w->id)) ++w->errors;
    ++w->checks;
  }
  w->done = true;
  return nullptr;
}

}  // namespace

TEST_CASE("shared stacks (libco): 1000 coroutines on 2 stacks keep their own 3000-byte buffers") {
  cofcgi_test::LeakCheck leaks;
  constexpr int kCount = 1000;
  constexpr int kYields = 20;
  stShareStack_t* group = co_alloc_sharestack(2, 128 * 1024);
  REQUIRE(group != nullptr);
  const std::size_t stacks_in_use = co::stats().stacks_in_use;
  std::vector<Worker> workers(kCount);
  std::vector<stCoRoutine_t*> cos(kCount, nullptr);
  stCoRoutineAttr_t attr = shared_attr(group);
  for (int i = 0; i < kCount; ++i) {
    workers[i].id = static_cast<std::uint32_t>(i + 1);
    workers[i].yields = kYields;
    REQUIRE(co_create(&cos[i], &attr, worker_routine, &workers[i]) == 0);
  }
  CHECK(co::stats().stacks_in_use == stacks_in_use);  // no private stacks were made
  for (int round = 0; round <= kYields; ++round) {
    for (auto* c : cos) co_resume(c);
  }
  int errors = 0, checks = 0, done = 0;
  for (const Worker& w : workers) {
    errors += w.errors;
    checks += w.checks;
    done += w.done ? 1 : 0;
  }
  CHECK(errors == 0);
  CHECK(checks == kCount * kYields);
  CHECK(done == kCount);
  // Round-robin over 2 stacks: every other coroutine has its buffer at the same address.
  CHECK(workers[0].buf_addr == workers[2].buf_addr);
  CHECK(workers[1].buf_addr == workers[999].buf_addr);
  CHECK(workers[0].buf_addr != workers[1].buf_addr);
  for (auto* c : cos) co_release(c);
}

TEST_CASE(
    "shared stacks (C++): 1000 co::go coroutines on 2 shared stacks keep their buffers across "
    "yields") {
  cofcgi_test::LeakCheck leaks;
  constexpr int kCount = 1000;
  constexpr int kYields = 20;
  co::SharedStacks* group = co::make_shared_stacks(2, 64 * 1024);
  REQUIRE(group != nullptr);
  int errors = 0, checks = 0, done = 0;
  std::vector<const void*> addrs(kCount, nullptr);
  co::Options options;
  options.shared_stacks = group;
  for (int i = 0; i < kCount; ++i) {
    co::go(options, [&, i] {
      char buf[3000];
      const auto id = static_cast<std::uint32_t>(0x10000 + i);
      fill(buf, id);
      addrs[i] = buf;
      for (int y = 0; y < kYields; ++y) {
        co::yield();
        if (!intact(buf, id)) ++errors;
        ++checks;
      }
      ++done;
    });
  }
  co::run();
  CHECK(errors == 0);
  CHECK(checks == kCount * kYields);
  CHECK(done == kCount);
  CHECK(addrs[10] == addrs[12]);
  CHECK(addrs[10] != addrs[11]);
}

TEST_CASE("shared stacks: releasing the coroutine that occupies a stack leaves the stack usable") {
  cofcgi_test::LeakCheck leaks;
  stShareStack_t* group = co_alloc_sharestack(1, 64 * 1024);
  REQUIRE(group != nullptr);
  stCoRoutineAttr_t attr = shared_attr(group);
  Worker a, b, c;
  a.id = 0xA;
  b.id = 0xB;
  c.id = 0xC;
  a.yields = b.yields = c.yields = 3;
  stCoRoutine_t *ca = nullptr, *cb = nullptr, *cc = nullptr;
  REQUIRE(co_create(&ca, &attr, worker_routine, &a) == 0);
  REQUIRE(co_create(&cb, &attr, worker_routine, &b) == 0);
  co_resume(ca);  // A occupies the stack
  co_resume(cb);  // A copied out, B in
  co_resume(ca);  // B copied out, A in again: A is the occupant when released
  CHECK(a.checks == 1);
  CHECK(a.errors == 0);
  co_release(ca);  // libco kept a dangling occupant here and saved freed memory later

  co_resume(cb);  // must load B's bytes and not touch A
  CHECK(b.checks == 1);
  CHECK(b.errors == 0);

  REQUIRE(co_create(&cc, &attr, worker_routine, &c) == 0);
  co_resume(cc);   // B copied out, C starts fresh on the same stack
  co_release(cb);  // released while its bytes are saved off-stack (not the occupant)
  co_resume(cc);
  co_resume(cc);
  co_resume(cc);
  CHECK(c.done);
  CHECK(c.checks == 3);
  CHECK(c.errors == 0);
  CHECK(c.buf_addr == a.buf_addr);  // really the same stack memory
  co_release(cc);
}

TEST_CASE("shared stacks: co_reset of the occupant restarts it cleanly") {
  cofcgi_test::LeakCheck leaks;
  stShareStack_t* group = co_alloc_sharestack(1, 64 * 1024);
  REQUIRE(group != nullptr);
  stCoRoutineAttr_t attr = shared_attr(group);
  Worker a, b;
  a.id = 1;
  b.id = 2;
  a.yields = b.yields = 2;
  stCoRoutine_t *ca = nullptr, *cb = nullptr;
  REQUIRE(co_create(&ca, &attr, worker_routine, &a) == 0);
  REQUIRE(co_create(&cb, &attr, worker_routine, &b) == 0);
  co_resume(ca);
  co_resume(cb);
  co_resume(ca);  // A is the occupant, one check done
  co_reset(ca);
  co_resume(cb);  // B comes back intact
  CHECK(b.errors == 0);
  CHECK(b.checks == 1);
  a.checks = 0;
  for (int i = 0; i < 3; ++i) co_resume(ca);  // A from the start: 2 yields then done
  CHECK(a.done);
  CHECK(a.checks == 2);
  CHECK(a.errors == 0);
  co_resume(cb);
  CHECK(b.done);
  CHECK(b.errors == 0);
  co_release(ca);
  co_release(cb);
}

namespace {

// A chain of coroutines all on one shared stack: each resumes the next (nested co_resume on
// the stack it itself occupies, which the scheduler routes through its mover), and checks its
// own buffer every time the child yields back.
constexpr int kNestDepth = 5;
constexpr int kChildYields = 3;
struct Nest;
struct NestArg {
  Nest* nest;
  int level;
};
struct Nest {
  stShareStack_t* group = nullptr;
  // Off the shared stack: a pointer into it means nothing once another coroutine runs there.
  NestArg args[kNestDepth];
  int errors = 0;
  int checks = 0;
  int finished = 0;
  const void* addrs[kNestDepth] = {};
};

void* nest_routine(void* arg) {
  auto* a = static_cast<NestArg*>(arg);
  Nest* n = a->nest;
  char buf[3000];
  const auto id = static_cast<std::uint32_t>(0x500 + a->level);
  fill(buf, id);
  n->addrs[a->level] = buf;
  if (a->level + 1 < kNestDepth) {
    NestArg* child_arg = &n->args[a->level + 1];
    *child_arg = NestArg{n, a->level + 1};
    stCoRoutineAttr_t attr = shared_attr(n->group);
    stCoRoutine_t* child = nullptr;
    if (co_create(&child, &attr, nest_routine, child_arg) != 0) {
      ++n->errors;
      return nullptr;
    }
    // The child yields kChildYields times, then finishes on the next resume.
    for (int i = 0; i <= kChildYields; ++i) {
      co_resume(child);
      if (!intact(buf, id)) ++n->errors;
      ++n->checks;
    }
    co_release(child);
  }
  if (a->level > 0) {
    for (int i = 0; i < kChildYields; ++i) {
      co_yield_ct();
      if (!intact(buf, id)) ++n->errors;
      ++n->checks;
    }
  }
  ++n->finished;
  return nullptr;
}

}  // namespace

TEST_CASE(
    "shared stacks: nested co_resume of a coroutine on the same shared stack, and yields back") {
  cofcgi_test::LeakCheck leaks;
  Nest n;
  n.group = co_alloc_sharestack(1, 128 * 1024);
  REQUIRE(n.group != nullptr);
  n.args[0] = NestArg{&n, 0};
  stCoRoutineAttr_t attr = shared_attr(n.group);
  stCoRoutine_t* root = nullptr;
  REQUIRE(co_create(&root, &attr, nest_routine, &n.args[0]) == 0);
  co_resume(root);
  CHECK(n.errors == 0);
  CHECK(n.finished == kNestDepth);
  // Each parent checks after each of its child's resumes; each child after each yield.
  CHECK(n.checks == (kNestDepth - 1) * (kChildYields + 1) + (kNestDepth - 1) * kChildYields);
  for (int i = 1; i < kNestDepth; ++i) CHECK(n.addrs[i] == n.addrs[0]);  // one stack for all
  co_release(root);
}

TEST_CASE("shared stacks: coroutines that park (sleep_for, CondVar) are woken by the loop intact") {
  cofcgi_test::LeakCheck leaks;
  co::SharedStacks* group = co::make_shared_stacks(2, 64 * 1024);
  co::Options options;
  options.shared_stacks = group;
  constexpr int kCount = 12;
  int errors = 0, checks = 0, done = 0;
  co::CondVar cv;
  int generation = 0;
  for (int i = 0; i < kCount; ++i) {
    co::go(options, [&, i] {
      char buf[2500];
      const auto id = static_cast<std::uint32_t>(0x700 + i);
      fill(buf, id);
      co::sleep_for(std::chrono::milliseconds(2 + (i % 4) * 3));
      checks++;
      if (!intact(buf, id)) ++errors;
      while (generation == 0) cv.wait_until();
      checks++;
      if (!intact(buf, id)) ++errors;
      co::sleep_for(std::chrono::milliseconds(1 + i % 3));
      checks++;
      if (!intact(buf, id)) ++errors;
      ++done;
    });
  }
  co::go([&] {
    co::sleep_for(std::chrono::milliseconds(20));
    generation = 1;
    cv.notify_all();
  });
  const auto start = std::chrono::steady_clock::now();
  co::run();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(errors == 0);
  CHECK(checks == 3 * kCount);
  CHECK(done == kCount);
}

namespace {

[[gnu::noinline]] int throw_from_depth(int depth, int value) {
  volatile char frame[200];
  frame[0] = static_cast<char>(depth);
  if (depth == 0) {
    co::yield();  // suspend (stack copied out and back) right before throwing
    throw value;
  }
  return throw_from_depth(depth - 1, value) + frame[0];
}

}  // namespace

TEST_CASE("shared stacks: exceptions thrown and caught inside shared-stack coroutines") {
  cofcgi_test::LeakCheck leaks;
  co::SharedStacks* group = co::make_shared_stacks(1, 128 * 1024);
  co::Options options;
  options.shared_stacks = group;
  constexpr int kCount = 6;
  int errors = 0, caught = 0, rethrown = 0, deep = 0;
  for (int i = 0; i < kCount; ++i) {
    co::go(options, [&, i] {
      char buf[1500];
      const auto id = static_cast<std::uint32_t>(0x900 + i);
      fill(buf, id);
      const std::string expected = "shared-" + std::to_string(i);
      try {
        throw std::runtime_error(expected);
      } catch (const std::runtime_error& e) {
        co::yield();  // the others throw and catch on the same stack meanwhile
        if (std::string(e.what()) != expected) ++errors;
        if (!intact(buf, id)) ++errors;
        ++caught;
        try {
          throw;
        } catch (const std::runtime_error& again) {
          if (std::string(again.what()) == expected) ++rethrown;
        }
      }
      try {
        (void)throw_from_depth(8, i);
      } catch (int v) {
        if (v == i) ++deep;
      }
      if (!intact(buf, id)) ++errors;
    });
  }
  co::run();
  CHECK(errors == 0);
  CHECK(caught == kCount);
  CHECK(rethrown == kCount);
  CHECK(deep == kCount);
}

TEST_CASE("shared stacks: invalid group arguments are errors") {
  cofcgi_test::LeakCheck leaks;
  const auto einval = std::make_error_code(std::errc::invalid_argument);
  const co::LogLevel level = co::log_level();
  co::set_log_level(co::LogLevel::off);  // each rejection is logged; keep the output quiet
  CHECK_THROWS_AS(co::make_shared_stacks(0, 64 * 1024), std::system_error);
  try {
    co::make_shared_stacks(-3, 64 * 1024);
    FAIL("expected std::system_error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == einval);
  }
  try {
    co::make_shared_stacks(1, std::size_t{4} << 30);
    FAIL("expected std::system_error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == einval);
  }
  errno = 0;
  CHECK(co_alloc_sharestack(0, 64 * 1024) == nullptr);
  CHECK(errno == EINVAL);
  co::set_log_level(level);
  // Zero or negative sizes are libco's default, as for co_create.
  stShareStack_t* group = co_alloc_sharestack(1, 0);
  CHECK(group != nullptr);
}
