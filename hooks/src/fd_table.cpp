#include "fd_table.h"

#include <new>

namespace co::hooks {

FdTable& FdTable::instance() {
  // Never destroyed: hooks may run during and after static destruction.
  static FdTable* table = new FdTable();
  return *table;
}

FdInfo* FdTable::get(int fd) {
  if (fd < 0) return nullptr;
  const auto index = static_cast<std::size_t>(fd);
  const std::size_t chunk = index >> kChunkBits;
  if (chunk >= kMaxChunks) return nullptr;
  FdInfo* entries = chunks_[chunk].load(std::memory_order_acquire);
  if (entries == nullptr) {
    auto* fresh = new (std::nothrow) FdInfo[kChunkSize];
    if (fresh == nullptr) return nullptr;
    if (chunks_[chunk].compare_exchange_strong(entries, fresh, std::memory_order_acq_rel)) {
      entries = fresh;
    } else {
      delete[] fresh;  // another thread won; `entries` holds its chunk
    }
  }
  return &entries[index & (kChunkSize - 1)];
}

FdInfo* FdTable::renew(int fd) {
  FdInfo* info = get(fd);
  if (info == nullptr) return nullptr;
  info->kind.store(FdKind::unknown, std::memory_order_relaxed);
  info->user_nonblock.store(-1, std::memory_order_relaxed);
  info->forced_nonblock.store(false, std::memory_order_relaxed);
  info->short_read.store(ShortRead::unknown, std::memory_order_relaxed);
  info->read_poll_stamp.store(0, std::memory_order_relaxed);
  info->recv_timeout_ns.store(0, std::memory_order_relaxed);
  info->send_timeout_ns.store(0, std::memory_order_relaxed);
  constexpr std::uint64_t kMask = (std::uint64_t{1} << kFdGenerationBits) - 1;
  std::uint64_t generation = next_generation_.fetch_add(1, std::memory_order_relaxed) & kMask;
  if (generation == 0)
    generation = next_generation_.fetch_add(1, std::memory_order_relaxed) & kMask;
  info->generation.store(generation, std::memory_order_release);
  return info;
}

void FdTable::copy_life(int from, int to) {
  FdInfo* src = get(from);
  FdInfo* dst = renew(to);
  if (src == nullptr || dst == nullptr) return;
  dst->kind.store(src->kind.load(std::memory_order_relaxed), std::memory_order_relaxed);
  dst->user_nonblock.store(src->user_nonblock.load(std::memory_order_relaxed),
                           std::memory_order_relaxed);
  dst->forced_nonblock.store(src->forced_nonblock.load(std::memory_order_relaxed),
                             std::memory_order_relaxed);
  dst->short_read.store(src->short_read.load(std::memory_order_relaxed), std::memory_order_relaxed);
  dst->recv_timeout_ns.store(src->recv_timeout_ns.load(std::memory_order_relaxed),
                             std::memory_order_relaxed);
  dst->send_timeout_ns.store(src->send_timeout_ns.load(std::memory_order_relaxed),
                             std::memory_order_relaxed);
}

}  // namespace co::hooks
