// StdoutFrames: a response part as FastCGI records, laid out for writev/sendmsg without
// copying its bytes. Response hands its sink the header text (the first time), the body bytes
// buffered so far and, at the end, the request's app status (ResponsePart); a connection
// frames them with this: STDOUT records of the header text, then of the body (at most
// kStdoutChunk content bytes each, padded to 8), then for the last part the empty STDOUT
// record that ends the stream and END_REQUEST. Record headers and the end records live in the
// object; the content is referenced, so the part must outlive it.
//
// The pieces come in batches of at most kBatchRecords records, each batch one writev/sendmsg:
// a response of up to kBatchRecords x 32 KiB, END_REQUEST included, leaves in one syscall.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "cofcgi/cgi/record.h"

namespace co::cgi::detail {

// ResponsePart: what Response sends in one go.
struct ResponsePart {
  std::string_view head;  // "Status: ...\r\n...\r\n\r\n", only in the first part
  std::string_view body;
  bool last = false;  // the response ends: the empty STDOUT and END_REQUEST follow
  std::uint32_t app_status = 0;
};

class StdoutFrames {
 public:
  static constexpr std::size_t kStdoutChunk = 32 * 1024;
  static constexpr std::size_t kBatchRecords = 8;

  StdoutFrames(std::uint16_t request_id, const ResponsePart& part);
  StdoutFrames(const StdoutFrames&) = delete;
  StdoutFrames& operator=(const StdoutFrames&) = delete;

  bool done() const { return done_; }
  // next lays out the next batch: its pieces stay valid until the next call.
  std::span<iovec> next();

 private:
  // add_record frames the next record of `rest` (head or body) into the batch.
  void add_record(std::string_view* rest);
  void add_piece(const void* data, std::size_t n);

  std::uint16_t id_;
  std::string_view head_;
  std::string_view body_;
  bool last_;
  bool done_ = false;
  std::array<char, kHeaderSize + kEndRequestSize> end_{};  // empty STDOUT + END_REQUEST
  std::array<std::array<char, kHeaderSize>, kBatchRecords> headers_{};
  std::array<iovec, kBatchRecords * 3 + 1> pieces_{};
  std::size_t records_ = 0;  // in the batch being laid out
  std::size_t count_ = 0;    // pieces in it
};

}  // namespace co::cgi::detail
