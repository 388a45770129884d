// The FastCGI 1.0 record codec, in picohttpparser's shape: noexcept, no allocation, views
// into the caller's buffer, a named status plus the bytes consumed. Everything a peer
// controls is a length checked here before use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cofcgi/runtime/export.h"

namespace co::cgi {

inline constexpr std::uint8_t kVersion1 = 1;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kMaxContent = 65535;
inline constexpr std::size_t kMaxPadding = 255;

enum class RecordType : std::uint8_t {
  begin_request = 1,
  abort_request = 2,
  end_request = 3,
  params = 4,
  stdin_stream = 5,
  stdout_stream = 6,
  stderr_stream = 7,
  data = 8,
  get_values = 9,
  get_values_result = 10,
  unknown_type = 11,
};
inline constexpr std::uint8_t kMaxKnownType = 11;

enum class Role : std::uint16_t { responder = 1, authorizer = 2, filter = 3 };
inline constexpr std::uint8_t kKeepConn = 1;  // FCGI_KEEP_CONN flag of BEGIN_REQUEST

enum class ProtocolStatus : std::uint8_t {
  request_complete = 0,
  cant_mpx_conn = 1,
  overloaded = 2,
  unknown_role = 3,
};

// A parsed record; `content` points into the buffer given to parse_record.
struct Record {
  std::uint8_t version = 0;
  std::uint8_t type = 0;  // a RecordType value, or any other byte (answer with UNKNOWN_TYPE)
  std::uint16_t request_id = 0;
  std::string_view content;
  std::uint8_t padding = 0;
  bool is_management() const { return request_id == 0; }
};

enum class ParseStatus {
  record,       // *out holds a whole record; `consumed` bytes (header+content+padding) used
  incomplete,   // need at least `needed` bytes in all before a record is there
  bad_version,  // not FastCGI 1: the stream cannot be trusted any further
};

struct ParseResult {
  ParseStatus status;
  std::size_t consumed = 0;  // for ParseStatus::record
  std::size_t needed = 0;    // for ParseStatus::incomplete
};

// parse_record reads one record from the front of [buf, buf+len).
COFCGI_API ParseResult parse_record(const char* buf, std::size_t len, Record* out) noexcept;

// write_header writes an 8-byte record header.
COFCGI_API void write_header(char* out, RecordType type, std::uint16_t request_id,
                             std::uint16_t content_length, std::uint8_t padding) noexcept;

// BEGIN_REQUEST's body.
struct BeginRequest {
  Role role;
  std::uint8_t flags;
  bool keep_conn() const { return (flags & kKeepConn) != 0; }
};
// parse_begin_request: false when the body is not the 8 bytes the spec gives it.
COFCGI_API bool parse_begin_request(std::string_view content, BeginRequest* out) noexcept;

// Whole small records, written into `out` (sizes as given): END_REQUEST (16 bytes),
// UNKNOWN_TYPE (16 bytes), and the header of an empty stream record ending a stream (8).
inline constexpr std::size_t kEndRequestSize = 16;
COFCGI_API void write_end_request(char* out, std::uint16_t request_id, std::uint32_t app_status,
                                  ProtocolStatus status) noexcept;
inline constexpr std::size_t kUnknownTypeSize = 16;
COFCGI_API void write_unknown_type(char* out, std::uint8_t type) noexcept;

// padding_for keeps records 8-byte aligned, as the spec recommends.
inline std::uint8_t padding_for(std::size_t content_length) {
  return static_cast<std::uint8_t>((8 - (content_length % 8)) % 8);
}

}  // namespace co::cgi
