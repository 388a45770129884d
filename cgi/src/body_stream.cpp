#include "body_stream.h"

#include <algorithm>
#include <cstring>

#include "cofcgi/cgi/request.h"

namespace co::cgi::detail {

void BodyStream::move_to(State next) {
  if (state_ != State::receiving && next != State::abandoned) return;  // the ends are final
  if (state_ == State::abandoned) return;
  state_ = next;
  if (next == State::over_limit || next == State::abandoned) {
    unlift();
    budget_.release(pending_.size() - read_);
    std::string().swap(pending_);
    read_ = 0;
  }
  ready_.notify_all();
}

void BodyStream::append(std::string_view bytes) {
  if (state_ != State::receiving) return;
  received_ += bytes.size();
  if (received_ > max_body_) {
    move_to(State::over_limit);
    return;
  }
  pending_.append(bytes);
  budget_.take(bytes.size());
  if (waiting_for_whole_) {
    budget_.lift(bytes.size());
    lifted_ += bytes.size();
  }
  ready_.notify_all();
}

void BodyStream::unlift() {
  budget_.unlift(lifted_);
  lifted_ = 0;
}

void BodyStream::end() {
  stream_ended_ = true;
  move_to(State::complete);
}
void BodyStream::abandon() { move_to(State::abandoned); }
void BodyStream::mark_over_limit() { move_to(State::over_limit); }

// Drop what was read once it is at least half the buffer: each byte moves at most once on
// average (erasing every chunk from the front was quadratic: a 10 MB body took seconds).
void BodyStream::drop_read_prefix() {
  if (read_ == pending_.size()) {
    pending_.clear();
    read_ = 0;
  } else if (read_ >= 64 * 1024 && read_ * 2 >= pending_.size()) {
    pending_.erase(0, read_);
    read_ = 0;
  }
}

std::size_t BodyStream::read(char* buf, std::size_t n) {
  for (;;) {
    if (state_ == State::abandoned) throw RequestAborted();
    if (state_ == State::over_limit) throw BodyTooLarge();
    const std::size_t available = pending_.size() - read_;
    if (available > 0) {
      const std::size_t take = std::min(n, available);
      std::memcpy(buf, pending_.data() + read_, take);
      read_ += take;
      drop_read_prefix();
      budget_.release(take);
      return take;
    }
    if (state_ == State::complete) return 0;
    ready_.wait_until();
  }
}

void BodyStream::wait_until_received() {
  if (state_ == State::receiving) {
    waiting_for_whole_ = true;
    lifted_ = pending_.size() - read_;
    budget_.lift(lifted_);
    budget_.wake();  // the reader may read again, or must refuse this wait (process cap full)
    while (state_ == State::receiving) ready_.wait_until();
    unlift();
    waiting_for_whole_ = false;
  }
  if (state_ == State::abandoned) throw RequestAborted();
  if (state_ == State::over_limit) throw BodyTooLarge();
}

}  // namespace co::cgi::detail
