#include <atomic>

#include "coroutine.h"
#include "locals.h"
#include "scheduler.h"

namespace co::detail {

std::uint64_t new_local_key() {
  static std::atomic<std::uint64_t> next{std::uint64_t{1} << 32};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void* get_local(std::uint64_t key) {
  const LocalTable* table = Scheduler::get().current()->locals;
  if (table == nullptr) return nullptr;
  for (const LocalSlot& slot : table->slots) {
    if (slot.key == key) return slot.value;
  }
  return nullptr;
}

void set_local(std::uint64_t key, void* value, LocalDeleter deleter) {
  Coroutine* co = Scheduler::get().current();
  if (co->locals == nullptr) co->locals = new LocalTable();
  for (LocalSlot& slot : co->locals->slots) {
    if (slot.key == key) {
      if (slot.deleter != nullptr && slot.value != value) slot.deleter(slot.value);
      slot.value = value;
      slot.deleter = deleter;
      return;
    }
  }
  co->locals->slots.push_back(LocalSlot{key, value, deleter});
}

void destroy_locals(Coroutine* co) {
  // Deleters may touch other locals of the same coroutine, so the table stays attached
  // while they run.
  while (co->locals != nullptr && !co->locals->slots.empty()) {
    LocalSlot slot = co->locals->slots.back();
    co->locals->slots.pop_back();
    if (slot.deleter != nullptr) slot.deleter(slot.value);
  }
  delete co->locals;
  co->locals = nullptr;
}

}  // namespace co::detail
