#include "stack_memory.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <system_error>

#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/options.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13 uapi; glibc 2.36 headers predate it
#endif

namespace co::detail {
namespace {

// Process-wide facts about the kernel, not per-thread state: whether guard-install works,
// and how many mprotect'ed guards are live (each costs one extra mapping).
std::atomic<int> g_guard_install_works{-1};  // -1 unknown, 0 no, 1 yes
std::atomic<long> g_mprotect_guards{0};

long max_map_count() {
  static const long value = [] {
    long v = 65530;
    if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
      if (std::fscanf(f, "%ld", &v) != 1) v = 65530;
      std::fclose(f);
    }
    return v;
  }();
  return value;
}

// Half the map budget for guard splits, leaving the rest for the stacks themselves, the
// heap, libraries and the application.
long mprotect_guard_budget() { return max_map_count() / 2 - 1024; }

[[noreturn]] void throw_stack_error(int err, std::size_t size, const char* what) {
  char msg[320];
  std::snprintf(msg, sizeof msg,
                "cannot allocate a %zu-byte coroutine stack: %s (limits: memory, "
                "vm.max_map_count=%ld mappings)",
                size, what, max_map_count());
  log_printf(LogLevel::error, "%s", msg);
  throw std::system_error(err, std::generic_category(), msg);
}

}  // namespace

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t round_stack_size(std::size_t requested) {
  if (requested == 0) requested = kDefaultStackSize;
  if (requested < kMinStackSize || requested > kMaxStackSize) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "coroutine stack size %zu outside [%zu, %zu]", requested,
                  kMinStackSize, kMaxStackSize);
    log_printf(LogLevel::error, "%s", msg);
    throw std::system_error(EINVAL, std::generic_category(), msg);
  }
  const std::size_t page = page_size();
  return (requested + page - 1) & ~(page - 1);  // a power of two: no division
}

StackMemory StackMemory::allocate(std::size_t usable) {
  const std::size_t guard = page_size();
  const std::size_t total = usable + guard;
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    throw_stack_error(err, usable,
                      err == ENOMEM ? "mmap: out of memory or mappings" : "mmap failed");
  }
  StackMemory stack;
  stack.mapping_ = static_cast<char*>(p);
  stack.mapping_size_ = total;
  stack.guard_size_ = guard;
  // Huge pages would turn a 128 KiB stack into 2 MiB of RSS.
  (void)madvise(p, total, MADV_NOHUGEPAGE);

  if (g_guard_install_works.load(std::memory_order_relaxed) != 0) {
    if (madvise(p, guard, MADV_GUARD_INSTALL) == 0) {
      g_guard_install_works.store(1, std::memory_order_relaxed);
      return stack;
    }
    if (errno != EINVAL) throw_stack_error(errno, usable, "madvise(MADV_GUARD_INSTALL) failed");
    g_guard_install_works.store(0, std::memory_order_relaxed);
    log_printf(LogLevel::info,
               "kernel lacks MADV_GUARD_INSTALL: stack guards use mprotect, at most %ld of them "
               "(vm.max_map_count=%ld)",
               mprotect_guard_budget(), max_map_count());
  }
  if (g_mprotect_guards.fetch_add(1, std::memory_order_relaxed) >= mprotect_guard_budget()) {
    g_mprotect_guards.fetch_sub(1, std::memory_order_relaxed);
    throw_stack_error(ENOMEM, usable,
                      "guard-page budget exhausted (each mprotect guard costs a mapping)");
  }
  stack.mprotect_guard_ = true;
  if (mprotect(p, guard, PROT_NONE) != 0) throw_stack_error(errno, usable, "mprotect guard failed");
  return stack;
}

void StackMemory::release() {
  munmap(mapping_, mapping_size_);
  if (mprotect_guard_) g_mprotect_guards.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace co::detail
