#include "cofcgi/cgi/record.h"

namespace co::cgi {
namespace {

std::uint16_t read_u16(const unsigned char* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

void write_u16(char* p, std::uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v & 0xff);
}

}  // namespace

ParseResult parse_record(const char* buf, std::size_t len, Record* out) noexcept {
  if (len < kHeaderSize) return {ParseStatus::incomplete, 0, kHeaderSize};
  const auto* p = reinterpret_cast<const unsigned char*>(buf);
  if (p[0] != kVersion1) return {ParseStatus::bad_version, 0, 0};
  const std::size_t content_length = read_u16(p + 4);
  const std::size_t padding = p[6];
  const std::size_t total = kHeaderSize + content_length + padding;
  if (len < total) return {ParseStatus::incomplete, 0, total};
  out->version = p[0];
  out->type = p[1];
  out->request_id = read_u16(p + 2);
  out->content = std::string_view(buf + kHeaderSize, content_length);
  out->padding = static_cast<std::uint8_t>(padding);
  return {ParseStatus::record, total, 0};
}

void write_header(char* out, RecordType type, std::uint16_t request_id,
                  std::uint16_t content_length, std::uint8_t padding) noexcept {
  out[0] = static_cast<char>(kVersion1);
  out[1] = static_cast<char>(type);
  write_u16(out + 2, request_id);
  write_u16(out + 4, content_length);
  out[6] = static_cast<char>(padding);
  out[7] = 0;
}

bool parse_begin_request(std::string_view content, BeginRequest* out) noexcept {
  if (content.size() != 8) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(content.data());
  out->role = static_cast<Role>(read_u16(p));
  out->flags = p[2];
  return true;
}

void write_end_request(char* out, std::uint16_t request_id, std::uint32_t app_status,
                       ProtocolStatus status) noexcept {
  write_header(out, RecordType::end_request, request_id, 8, 0);
  char* body = out + kHeaderSize;
  body[0] = static_cast<char>(app_status >> 24);
  body[1] = static_cast<char>((app_status >> 16) & 0xff);
  body[2] = static_cast<char>((app_status >> 8) & 0xff);
  body[3] = static_cast<char>(app_status & 0xff);
  body[4] = static_cast<char>(status);
  body[5] = body[6] = body[7] = 0;
}

void write_unknown_type(char* out, std::uint8_t type) noexcept {
  write_header(out, RecordType::unknown_type, 0, 8, 0);
  char* body = out + kHeaderSize;
  body[0] = static_cast<char>(type);
  for (int i = 1; i < 8; ++i) body[i] = 0;
}

}  // namespace co::cgi
