#include "stdout_frames.h"

#include <algorithm>

namespace co::cgi::detail {
namespace {

constexpr char kZeros[kMaxPadding] = {};

}  // namespace

StdoutFrames::StdoutFrames(std::uint16_t request_id, const ResponsePart& part)
    : id_(request_id), head_(part.head), body_(part.body), last_(part.last) {
  if (last_) {
    write_header(end_.data(), RecordType::stdout_stream, id_, 0, 0);
    write_end_request(end_.data() + kHeaderSize, id_, part.app_status,
                      ProtocolStatus::request_complete);
  }
  done_ = head_.empty() && body_.empty() && !last_;
}

std::span<iovec> StdoutFrames::next() {
  records_ = 0;
  count_ = 0;
  while (records_ < kBatchRecords && !head_.empty()) add_record(&head_);
  while (records_ < kBatchRecords && !body_.empty()) add_record(&body_);
  if (head_.empty() && body_.empty()) {
    if (last_) add_piece(end_.data(), end_.size());
    done_ = true;
  }
  return {pieces_.data(), count_};
}

void StdoutFrames::add_record(std::string_view* rest) {
  const std::size_t n = std::min(kStdoutChunk, rest->size());
  const std::uint8_t padding = padding_for(n);
  char* header = headers_[records_++].data();
  write_header(header, RecordType::stdout_stream, id_, static_cast<std::uint16_t>(n), padding);
  add_piece(header, kHeaderSize);
  add_piece(rest->data(), n);
  if (padding > 0) add_piece(kZeros, padding);
  rest->remove_prefix(n);
}

void StdoutFrames::add_piece(const void* data, std::size_t n) {
  pieces_[count_++] = iovec{const_cast<void*>(data), n};
}

}  // namespace co::cgi::detail
