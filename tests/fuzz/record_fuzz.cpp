// libFuzzer target over the record codec (cgi/include/cofcgi/cgi/record.h): parse_record
// walks arbitrary bytes record after record; every result is checked against the header
// bytes it came from, re-encoded with write_header and parsed again; BEGIN_REQUEST bodies go
// through parse_begin_request; END_REQUEST and UNKNOWN_TYPE written from input bytes are
// read back.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "cofcgi/cgi/record.h"
#include "fuzz_check.h"

namespace {

using namespace co::cgi;

constexpr std::size_t kLargestRecord = kHeaderSize + kMaxContent + kMaxPadding;

std::uint16_t u16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}

void check_begin_request(std::string_view content) {
  BeginRequest begin{};
  const bool ok = parse_begin_request(content, &begin);
  COFCGI_FUZZ_CHECK(ok == (content.size() == 8));
  if (!ok) return;
  const auto* p = reinterpret_cast<const unsigned char*>(content.data());
  COFCGI_FUZZ_CHECK(static_cast<std::uint16_t>(begin.role) == u16(p));
  COFCGI_FUZZ_CHECK(begin.flags == p[2]);
  COFCGI_FUZZ_CHECK(begin.keep_conn() == ((p[2] & kKeepConn) != 0));
}

// A record parse_record returned from [at, at+left): its fields are the header's bytes, it
// lies inside the buffer, and its re-encoding parses to the same record.
void check_record(const char* at, std::size_t left, const Record& r, const ParseResult& res) {
  const auto* p = reinterpret_cast<const unsigned char*>(at);
  COFCGI_FUZZ_CHECK(left >= kHeaderSize);
  COFCGI_FUZZ_CHECK(p[0] == kVersion1);
  COFCGI_FUZZ_CHECK(r.version == kVersion1);
  COFCGI_FUZZ_CHECK(r.type == p[1]);
  COFCGI_FUZZ_CHECK(r.request_id == u16(p + 2));
  COFCGI_FUZZ_CHECK(r.is_management() == (u16(p + 2) == 0));
  COFCGI_FUZZ_CHECK(r.content.size() == u16(p + 4));
  COFCGI_FUZZ_CHECK(r.padding == p[6]);
  COFCGI_FUZZ_CHECK(r.content.data() == at + kHeaderSize);
  COFCGI_FUZZ_CHECK(res.consumed == kHeaderSize + r.content.size() + r.padding);
  COFCGI_FUZZ_CHECK(res.consumed <= left);
  COFCGI_FUZZ_CHECK(res.consumed <= kLargestRecord);

  // write_header gives back the header (the reserved byte, ignored on input, written 0).
  char header[kHeaderSize];
  write_header(header, static_cast<RecordType>(r.type), r.request_id,
               static_cast<std::uint16_t>(r.content.size()), r.padding);
  COFCGI_FUZZ_CHECK(std::memcmp(header, at, kHeaderSize - 1) == 0);
  COFCGI_FUZZ_CHECK(header[kHeaderSize - 1] == 0);

  // The re-encoded record (zero padding), in a buffer of exactly its size, parses the same.
  const std::size_t size = res.consumed;
  const auto copy = std::make_unique<char[]>(size);
  std::memcpy(copy.get(), header, kHeaderSize);
  std::memcpy(copy.get() + kHeaderSize, r.content.data(), r.content.size());
  std::memset(copy.get() + kHeaderSize + r.content.size(), 0, r.padding);
  Record again;
  const ParseResult res2 = parse_record(copy.get(), size, &again);
  COFCGI_FUZZ_CHECK(res2.status == ParseStatus::record);
  COFCGI_FUZZ_CHECK(res2.consumed == size);
  COFCGI_FUZZ_CHECK(again.type == r.type && again.request_id == r.request_id);
  COFCGI_FUZZ_CHECK(again.padding == r.padding && again.content == r.content);

  // Every prefix of a record is incomplete and asks for the header, then for all of it.
  const std::size_t cuts[] = {0, 1, kHeaderSize - 1, kHeaderSize, size / 2, size - 1};
  for (std::size_t cut : cuts) {
    if (cut >= size) continue;
    Record part;
    const ParseResult pr = parse_record(at, cut, &part);
    COFCGI_FUZZ_CHECK(pr.status == ParseStatus::incomplete);
    COFCGI_FUZZ_CHECK(pr.needed == (cut < kHeaderSize ? kHeaderSize : size));
  }

  if (r.type == static_cast<std::uint8_t>(RecordType::begin_request))
    check_begin_request(r.content);
}

void check_result(const char* at, std::size_t left, const Record& r, const ParseResult& res) {
  const auto* p = reinterpret_cast<const unsigned char*>(at);
  switch (res.status) {
    case ParseStatus::record: check_record(at, left, r, res); break;
    case ParseStatus::incomplete:
      COFCGI_FUZZ_CHECK(res.needed > left);
      COFCGI_FUZZ_CHECK(res.needed <= kLargestRecord);
      if (left < kHeaderSize) {
        COFCGI_FUZZ_CHECK(res.needed == kHeaderSize);
      } else {
        COFCGI_FUZZ_CHECK(p[0] == kVersion1);
        COFCGI_FUZZ_CHECK(res.needed == kHeaderSize + u16(p + 4) + p[6]);
      }
      break;
    case ParseStatus::bad_version:
      COFCGI_FUZZ_CHECK(left >= 1);
      COFCGI_FUZZ_CHECK(p[0] != kVersion1);
      break;
    default: COFCGI_FUZZ_CHECK(!"a ParseStatus outside the enum");
  }
}

// The writers, fed from the input's first bytes, read back by parse_record.
void check_writers(const unsigned char* data, std::size_t size) {
  unsigned char in[8] = {};
  std::memcpy(in, data, size < sizeof in ? size : sizeof in);
  const std::uint16_t id = u16(in);
  const std::uint32_t app_status = u32(in + 2);
  const auto status = static_cast<ProtocolStatus>(in[6]);

  const auto end = std::make_unique<char[]>(kEndRequestSize);
  write_end_request(end.get(), id, app_status, status);
  Record r;
  ParseResult res = parse_record(end.get(), kEndRequestSize, &r);
  COFCGI_FUZZ_CHECK(res.status == ParseStatus::record && res.consumed == kEndRequestSize);
  COFCGI_FUZZ_CHECK(r.type == static_cast<std::uint8_t>(RecordType::end_request));
  COFCGI_FUZZ_CHECK(r.request_id == id && r.padding == 0 && r.content.size() == 8);
  const auto* body = reinterpret_cast<const unsigned char*>(r.content.data());
  COFCGI_FUZZ_CHECK(u32(body) == app_status);
  COFCGI_FUZZ_CHECK(body[4] == in[6] && body[5] == 0 && body[6] == 0 && body[7] == 0);

  const auto unknown = std::make_unique<char[]>(kUnknownTypeSize);
  write_unknown_type(unknown.get(), in[7]);
  res = parse_record(unknown.get(), kUnknownTypeSize, &r);
  COFCGI_FUZZ_CHECK(res.status == ParseStatus::record && res.consumed == kUnknownTypeSize);
  COFCGI_FUZZ_CHECK(r.type == static_cast<std::uint8_t>(RecordType::unknown_type));
  COFCGI_FUZZ_CHECK(r.request_id == 0 && r.is_management() && r.content.size() == 8);
  body = reinterpret_cast<const unsigned char*>(r.content.data());
  COFCGI_FUZZ_CHECK(body[0] == in[7]);
  for (int i = 1; i < 8; ++i) COFCGI_FUZZ_CHECK(body[i] == 0);

  COFCGI_FUZZ_CHECK(padding_for(size) < 8 && (size + padding_for(size)) % 8 == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* buf = reinterpret_cast<const char*>(data);
  std::size_t offset = 0;
  for (;;) {
    const char* at = buf + offset;
    const std::size_t left = size - offset;
    Record r;
    const ParseResult res = parse_record(at, left, &r);
    check_result(at, left, r, res);
    if (res.status != ParseStatus::record) break;
    offset += res.consumed;
  }
  check_begin_request(std::string_view(buf, size));
  if (size >= 8) check_begin_request(std::string_view(buf, 8));
  check_writers(data, size);
  return 0;
}
