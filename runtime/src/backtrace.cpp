// Backtracer (cofcgi/runtime/backtrace.h): stack walks with elfutils' libdwfl on our own
// process, fed with registers we already have (a parked coroutine's switch frame) or that a
// signal handler copied (thread_sample.cpp), never with ptrace: dwfl_attach_state takes our
// callbacks for the registers and for memory, so the walk reads the stack directly.
#include "cofcgi/runtime/backtrace.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "backtrace_internal.h"
#include "scheduler.h"

namespace co {
namespace {

// Any positive number: the walks are not of a kernel thread, dwfl only needs a tid to ask
// get_thread for.
constexpr pid_t kWalkTid = 1;

// read_word_safely reads 8 bytes of our own memory without faulting on a bad address
// (a corrupt frame pointer): process_vm_readv on ourselves reports EFAULT instead.
bool read_word_safely(std::uintptr_t addr, Dwarf_Word* out) {
  iovec local{out, sizeof *out};
  iovec remote{reinterpret_cast<void*>(addr), sizeof *out};
  return ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) ==
         static_cast<ssize_t>(sizeof *out);
}

std::string demangle(const char* name) {
  int status = 0;
  char* text = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || text == nullptr) return name;
  std::string out(text);
  std::free(text);
  return out;
}

std::string base_name(const char* path) {
  if (path == nullptr) return {};
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

}  // namespace

struct Backtracer::Impl {
  // libdw's line-table reader wants more stack than a coroutine has (it crashed a 128 KiB
  // one): every libdw call runs on this thread, with a thread's full stack. The caller
  // waits for it, so a parked coroutine of the caller's thread cannot move meanwhile.
  std::thread worker;
  // One walk at a time, from setting `start` to the end of the walk: two threads' status
  // pages walk at once, and `start` set by one must not be walked by the other.
  std::mutex callers;
  std::mutex mutex;
  std::condition_variable wake;
  std::function<void()> job;
  bool stopping = false;

  Dwfl* dwfl = nullptr;
  detail::WalkStart start;                           // what the next walk begins from
  std::vector<std::pair<std::uintptr_t, bool>> pcs;  // pc, is it exact (not a return address)
  std::size_t max_frames = 0;

  ~Impl() {
    if (worker.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        stopping = true;
      }
      wake.notify_all();
      worker.join();
    }
    close();
  }
  // run_on_worker: the caller holds `callers`.
  void run_on_worker(const std::function<void()>& fn);
  void serve();
  void close() {
    if (dwfl != nullptr) dwfl_end(dwfl);
    dwfl = nullptr;
  }
  bool open();
  std::vector<StackFrame> walk(std::size_t limit);
  StackFrame symbolize(std::uintptr_t pc, bool exact);

  // libdwfl callbacks; dwfl_arg is the Impl.
  static pid_t next_thread(Dwfl*, void*, void** thread_arg) {
    if (*thread_arg != nullptr) return 0;
    *thread_arg = reinterpret_cast<void*>(1);
    return kWalkTid;
  }
  static bool get_thread(Dwfl*, pid_t tid, void*, void** thread_arg) {
    *thread_arg = reinterpret_cast<void*>(1);
    return tid == kWalkTid;
  }
  static bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
    const detail::WalkStart& s = static_cast<Impl*>(arg)->start;
    if (s.copy != nullptr && addr >= s.copy_base &&
        addr + sizeof *result <= s.copy_base + s.copy_size) {
      std::memcpy(result, s.copy + (addr - s.copy_base), sizeof *result);
      return true;
    }
    return read_word_safely(addr, result);
  }
  static bool set_initial_registers(Dwfl_Thread* thread, void*) {
    const Impl* self = current;
    if (self == nullptr) return false;
    const detail::WalkStart& s = self->start;
    for (int r = 0; r < detail::kDwarfRegisters; ++r) {
      if (!s.known[r]) continue;
      const Dwarf_Word value = s.regs[r];
      if (!dwfl_thread_state_registers(thread, r, 1, &value)) return false;
    }
    dwfl_thread_state_register_pc(thread, s.pc);
    return true;
  }
  static int on_frame(Dwfl_Frame* frame, void* arg) {
    Impl* self = static_cast<Impl*>(arg);
    Dwarf_Addr pc = 0;
    bool activation = false;
    if (!dwfl_frame_pc(frame, &pc, &activation) || pc == 0) return DWARF_CB_ABORT;
    self->pcs.emplace_back(static_cast<std::uintptr_t>(pc), activation);
    return self->pcs.size() >= self->max_frames ? DWARF_CB_ABORT : DWARF_CB_OK;
  }

  // set_initial_registers gets no dwfl_arg: the walk in progress is named here. Walks are
  // made by one thread at a time per Backtracer (backtrace.h), and dwfl calls back on the
  // thread that walks, so a thread-local suffices.
  static thread_local Impl* current;
};

thread_local Backtracer::Impl* Backtracer::Impl::current = nullptr;

void Backtracer::Impl::run_on_worker(const std::function<void()>& fn) {
  std::unique_lock<std::mutex> lock(mutex);
  if (!worker.joinable()) worker = std::thread([this] { serve(); });
  job = fn;
  wake.notify_all();
  wake.wait(lock, [this] { return !job; });
}

void Backtracer::Impl::serve() {
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    wake.wait(lock, [this] { return stopping || job; });
    if (stopping) return;
    job();
    job = nullptr;
    wake.notify_all();
  }
}

bool Backtracer::Impl::open() {
  static const Dwfl_Callbacks callbacks = {dwfl_linux_proc_find_elf, dwfl_standard_find_debuginfo,
                                           nullptr, nullptr};
  static const Dwfl_Thread_Callbacks thread_callbacks = {
      &next_thread, &get_thread, &memory_read, &set_initial_registers, nullptr, nullptr};
  close();
  dwfl = dwfl_begin(&callbacks);
  if (dwfl == nullptr) return false;
  dwfl_report_begin(dwfl);
  const bool reported = dwfl_linux_proc_report(dwfl, ::getpid()) == 0;
  dwfl_report_end(dwfl, nullptr, nullptr);
  if (!reported || !dwfl_attach_state(dwfl, nullptr, ::getpid(), &thread_callbacks, this)) {
    close();
    return false;
  }
  return true;
}

std::vector<StackFrame> Backtracer::Impl::walk(std::size_t limit) {
  std::vector<StackFrame> frames;
  if (dwfl == nullptr && !open()) return frames;
  pcs.clear();
  max_frames = limit;
  current = this;
  (void)dwfl_getthread_frames(dwfl, kWalkTid, &on_frame, this);
  current = nullptr;
  // A pc outside every module known: a library loaded since the modules were read.
  bool refreshed = false;
  for (const auto& [pc, exact] : pcs) {
    const Dwarf_Addr lookup = exact ? pc : pc - 1;
    if (!refreshed && dwfl_addrmodule(dwfl, lookup) == nullptr) {
      refreshed = true;
      if (!open()) break;
    }
    frames.push_back(symbolize(pc, exact));
  }
  return frames;
}

StackFrame Backtracer::Impl::symbolize(std::uintptr_t pc, bool exact) {
  StackFrame f;
  f.pc = pc;
  // A return address points past the call: look up the call itself.
  const Dwarf_Addr lookup = exact ? pc : pc - 1;
  Dwfl_Module* module = dwfl != nullptr ? dwfl_addrmodule(dwfl, lookup) : nullptr;
  if (module == nullptr) return f;
  f.module = base_name(
      dwfl_module_info(module, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr));
  GElf_Off offset = 0;
  GElf_Sym symbol{};
  if (const char* name =
          dwfl_module_addrinfo(module, lookup, &offset, &symbol, nullptr, nullptr, nullptr)) {
    f.function = demangle(name);
  }
  if (Dwfl_Line* line = dwfl_module_getsrc(module, lookup)) {
    int number = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &number, nullptr, nullptr, nullptr)) {
      f.file = file;
      f.line = number;
    }
  }
  return f;
}

Backtracer::Backtracer() : impl_(std::make_unique<Impl>()) {}
Backtracer::~Backtracer() = default;

std::vector<StackFrame> Backtracer::of_coroutine(CoroutineHandle coroutine,
                                                 std::size_t max_frames) {
  std::lock_guard<std::mutex> one_walk(impl_->callers);
  if (!detail::walk_start_of_coroutine(static_cast<detail::Coroutine*>(coroutine.raw()),
                                       &impl_->start)) {
    return {};
  }
  std::vector<StackFrame> frames;
  impl_->run_on_worker([&] { frames = impl_->walk(max_frames); });
  return frames;
}

bool Backtracer::of_thread(pthread_t thread, ThreadSample* out, std::chrono::milliseconds timeout,
                           std::size_t max_frames) {
  std::unique_ptr<detail::SampleSlot> slot = detail::sample_thread(thread, timeout);
  if (slot == nullptr) return false;
  std::lock_guard<std::mutex> one_walk(impl_->callers);
  detail::walk_start_of_sample(*slot, &impl_->start);
  impl_->run_on_worker([&] { out->frames = impl_->walk(max_frames); });
  out->coroutine_id = slot->coroutine_id;
  out->coroutine_name = slot->coroutine_name;
  impl_->start.copy = nullptr;
  return true;
}

std::string format_frames(const std::vector<StackFrame>& frames, const char* indent) {
  std::string out;
  char pc[32];
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const StackFrame& f = frames[i];
    out += indent;
    out += '#';
    out += std::to_string(i);
    out += ' ';
    if (f.function.empty()) {
      std::snprintf(pc, sizeof pc, "0x%zx", static_cast<std::size_t>(f.pc));
      out += pc;
    } else {
      out += f.function;
    }
    if (!f.file.empty()) {
      out += " (" + base_name(f.file.c_str()) + ':' + std::to_string(f.line) + ')';
    }
    if (!f.module.empty()) out += " [" + f.module + ']';
    out += '\n';
  }
  return out;
}

}  // namespace co
