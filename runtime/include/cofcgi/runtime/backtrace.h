// Backtraces of coroutines and threads, in-process, without ptrace and without stopping
// anything but the caller: a parked coroutine's stack is walked from the registers its last
// switch saved; a running thread is sampled with a signal whose handler copies its registers
// and the top of its stack. The walking and the symbols are elfutils' libdwfl (the unwinder
// and symbolizer of perf, eu-stack and systemd-coredump): CFI from .eh_frame, names from the
// symbol tables, file:line from the debug info when the binary has it.
#pragma once

#include <pthread.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cofcgi/runtime/export.h"
#include "cofcgi/runtime/inspect.h"

namespace co {

struct StackFrame {
  std::uintptr_t pc = 0;
  std::string function;  // demangled; empty when no symbol covers pc
  std::string file;      // source file, when there is debug info
  int line = 0;
  std::string module;  // the ELF file's base name
};

// ThreadSample: what the sampling signal captured of a running thread.
struct ThreadSample {
  std::vector<StackFrame> frames;
  std::uint64_t coroutine_id = 0;  // the coroutine it ran (0: its own stack)
  std::string coroutine_name;
};

// Backtracer owns the symbol and CFI caches of the process's modules (built on first use,
// rebuilt when a pc falls outside every module known: a library loaded since). One instance
// serves one thread at a time: give each thread its own, or lock around it.
class COFCGI_API Backtracer {
 public:
  Backtracer();
  ~Backtracer();
  Backtracer(const Backtracer&) = delete;
  Backtracer& operator=(const Backtracer&) = delete;

  // of_coroutine walks a coroutine of the calling thread that is not running (parked, ready,
  // suspended), from its saved registers; empty for the running one, one never run, one on
  // a shared stack that was copied away, or on an architecture without support (x86-64 only).
  std::vector<StackFrame> of_coroutine(CoroutineHandle coroutine, std::size_t max_frames = 48);

  // of_thread samples another thread of this process while it runs: a signal (SIGURG by
  // default, see set_sampling_signal) makes it copy its registers and up to 64 KiB of its
  // stack; the walk happens here, on the caller's thread. Nothing when the thread does not
  // answer within `timeout` (it blocks signals, or is stopped). One sample at a time per
  // process (a lock).
  bool of_thread(pthread_t thread, ThreadSample* out,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds(500),
                 std::size_t max_frames = 48);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// format_frames renders frames one per line: "  #0 handler_name (file.cpp:42) [libx.so]".
COFCGI_API std::string format_frames(const std::vector<StackFrame>& frames,
                                     const char* indent = "  ");

// set_sampling_signal chooses the signal Backtracer::of_thread sends (default SIGURG, which
// Go's runtime uses for the same purpose: ignored by default, and nothing in a FastCGI
// server uses out-of-band TCP data). Call it before the first sample.
COFCGI_API void set_sampling_signal(int signal);

}  // namespace co
