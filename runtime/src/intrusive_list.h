// Doubly-linked intrusive list over co::detail::ListNode (wait_queue.h): O(1) push, pop and
// unlink with no allocation, which is what park/wake needs on every blocking call.
#pragma once

#include <cstddef>

#include "cofcgi/runtime/wait_queue.h"

namespace co::detail {

inline void list_push_back(ListNode& head, ListNode& node) {
  node.prev = head.prev;
  node.next = &head;
  head.prev->next = &node;
  head.prev = &node;
}

inline void list_unlink(ListNode& node) {
  node.prev->next = node.next;
  node.next->prev = node.prev;
  node.prev = node.next = &node;
}

inline ListNode* list_pop_front(ListNode& head) {
  if (!head.linked()) return nullptr;
  ListNode* node = head.next;
  list_unlink(*node);
  return node;
}

template <typename T, ListNode T::*Member>
T* container_of(ListNode* node) {
  const auto offset = reinterpret_cast<std::size_t>(&(static_cast<T*>(nullptr)->*Member));
  return reinterpret_cast<T*>(reinterpret_cast<char*>(node) - offset);
}

}  // namespace co::detail
