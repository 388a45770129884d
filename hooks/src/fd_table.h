// FdTable: what the hooks know about each fd, process-wide because fd flags are process
// state (the one piece of global mutable state besides the per-thread schedulers). Entries
// are created lazily, in chunks, so the table grows with the highest fd used and needs no
// fixed array; lookups are two atomic loads and take no lock, so several threads, each with
// its own scheduler, may use it at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace co::hooks {

enum class FdKind : std::uint8_t { unknown = 0, socket = 1, other = 2 };

// What a read of this socket that returns less than asked says (read_note.h): `empties`, the
// socket held no more data at that instant (TCP, and unix stream sockets that take no
// credentials); `may_leave_data`, it may stop early with data left (datagrams, a record or
// message boundary, credentials); `unknown`, not asked the kernel yet.
enum class ShortRead : std::uint8_t { unknown = 0, empties = 1, may_leave_data = 2 };

// Generations count in 48 bits (FdView packs one beside a pointer); they wrap past 0.
inline constexpr unsigned kFdGenerationBits = 48;

struct FdInfo {
  // Identifies this life of the fd number (bumped whenever a hook creates or closes it);
  // the netpoller re-registers an fd whose generation changed.
  std::atomic<std::uint64_t> generation{0};
  std::atomic<FdKind> kind{FdKind::unknown};
  // O_NONBLOCK as the user set it: -1 not known yet (ask the kernel once).
  std::atomic<std::int8_t> user_nonblock{-1};
  // The hooks set O_NONBLOCK on the file for the user (listening sockets): the user's view
  // stays blocking, so every call must emulate blocking, even outside coroutines.
  std::atomic<bool> forced_nonblock{false};
  std::atomic<ShortRead> short_read{ShortRead::unknown};
  // The stamp (read_note.h) of the one-fd poll for POLLIN that last waited on this fd; 0:
  // none, or used up. Lets a non-blocking read answer EAGAIN from the not-ready note.
  std::atomic<std::uint64_t> read_poll_stamp{0};
  // SO_RCVTIMEO / SO_SNDTIMEO in nanoseconds; 0 = none.
  std::atomic<std::int64_t> recv_timeout_ns{0};
  std::atomic<std::int64_t> send_timeout_ns{0};
};

class FdTable {
 public:
  static FdTable& instance();
  // get returns fd's entry (creating its chunk), or nullptr for a negative or absurd fd.
  FdInfo* get(int fd);
  // renew starts a new life for fd: fresh generation, everything unknown.
  FdInfo* renew(int fd);
  // copy_life makes `to` describe the same file as `from` (dup): kind and O_NONBLOCK,
  // which live on the shared open file description; timeouts and the short-read kind too
  // (the socket's own).
  void copy_life(int from, int to);
  // new_stamp: a number never returned before in this process (read_note.cpp's epoch ranges).
  std::uint64_t new_stamp() { return next_stamp_.fetch_add(1, std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kChunkBits = 10;
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
  static constexpr std::size_t kMaxChunks = std::size_t{1} << 16;  // 64 Mi fds
  std::atomic<FdInfo*> chunks_[kMaxChunks] = {};
  std::atomic<std::uint64_t> next_generation_{1};
  std::atomic<std::uint64_t> next_stamp_{1};
};

}  // namespace co::hooks
