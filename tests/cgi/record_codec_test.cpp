// The record codec (cgi/src/record_codec.cpp): every record type, every split of a stream,
// the length and padding edges, and inputs that end exactly at an unreadable page.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "cofcgi/cgi/record.h"

namespace {

using namespace co::cgi;
using codec_test::GuardedBuffer;
using codec_test::hex;
using codec_test::join;
using codec_test::record_events;

// A record as a peer sends it; `padding` bytes of 0xEE (padding is never content).
std::string rec(std::uint8_t type, std::uint16_t id, std::string_view content,
                std::size_t padding = 0, std::uint8_t version = 1) {
  std::string r;
  r.push_back(static_cast<char>(version));
  r.push_back(static_cast<char>(type));
  r.push_back(static_cast<char>(id >> 8));
  r.push_back(static_cast<char>(id & 0xff));
  r.push_back(static_cast<char>(content.size() >> 8));
  r.push_back(static_cast<char>(content.size() & 0xff));
  r.push_back(static_cast<char>(padding));
  r.push_back('\x5a');  // the reserved byte: ignored whatever it holds
  r.append(content);
  r.append(padding, '\xee');
  return r;
}

std::string pattern(std::size_t n, unsigned seed = 7) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return s;
}

std::string expect_line(std::uint8_t type, std::uint16_t id, std::string_view content,
                        std::size_t padding) {
  return "record type=" + std::to_string(type) + " id=" + std::to_string(id) +
         " content=" + hex(content) + " padding=" + std::to_string(padding);
}

// A stream with one record of every type and a few odd ones, as (bytes, expected events).
struct Stream {
  std::string bytes;
  std::vector<std::string> events;
  void add(std::uint8_t type, std::uint16_t id, std::string_view content, std::size_t padding = 0) {
    bytes += rec(type, id, content, padding);
    events.push_back(expect_line(type, id, content, padding));
  }
};

Stream every_type_stream() {
  Stream s;
  const char begin_body[8] = {0, 1, 1, 0, 0, 0, 0, 0};
  s.add(1, 1, std::string_view(begin_body, 8));
  s.events.emplace_back("begin role=1 flags=1");
  s.add(2, 1, "");
  const char end_body[8] = {0, 0, 0, 7, 0, 0, 0, 0};
  s.add(3, 1, std::string_view(end_body, 8));
  s.add(4, 1, "\x0b\x02SERVER_NAMEab", 3);
  s.add(4, 1, "");
  s.add(5, 1, pattern(100), 4);
  s.add(5, 1, "");
  s.add(6, 1, "Status: 200\r\n\r\n", 1);
  s.add(7, 1, "err");
  s.add(8, 1, pattern(9));
  s.add(9, 0,
        "\x0e\x00"
        "FCGI_MAX_CONNS");
  s.add(10, 0,
        "\x0e\x01"
        "FCGI_MAX_CONNS"
        "1",
        7);
  s.add(11, 0, std::string("\x63\0\0\0\0\0\0\0", 8));
  s.add(0, 2, "zero type");    // not a FastCGI type: still a record (UNKNOWN_TYPE)
  s.add(12, 65535, "x", 255);  // first unknown type, highest id, most padding
  s.add(255, 0, "");
  s.events.emplace_back("end");
  return s;
}

TEST_CASE("every record type parses, with its id, content and padding") {
  const Stream s = every_type_stream();
  CHECK(join(record_events(s.bytes.data(), s.bytes.size())) == join(s.events));
  GuardedBuffer guard;
  const char* at = guard.place(s.bytes);
  CHECK(join(record_events(at, s.bytes.size())) == join(s.events));
}

TEST_CASE("a stream split at every byte boundary gives the same records") {
  const Stream s = every_type_stream();
  const std::string want = join(s.events);
  for (std::size_t cut = 0; cut <= s.bytes.size(); ++cut) {
    CAPTURE(cut);
    REQUIRE(join(codec_test::streamed_record_events(s.bytes, {cut})) == want);
  }
  // Two cuts: every pair within the first records (the interesting boundaries), plus
  // one byte at a time through the whole stream.
  for (std::size_t a = 0; a <= 64; ++a) {
    for (std::size_t b = a; b <= 64; ++b) {
      CAPTURE(a);
      CAPTURE(b);
      REQUIRE(join(codec_test::streamed_record_events(s.bytes, {a, b})) == want);
    }
  }
  std::vector<std::size_t> each;
  for (std::size_t i = 1; i < s.bytes.size(); ++i) each.push_back(i);
  CHECK(join(codec_test::streamed_record_events(s.bytes, each)) == want);
}

TEST_CASE("content length 0 and 65535, padding 0 through 255") {
  GuardedBuffer guard(2 * 65536);
  for (std::size_t content : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8},
                              std::size_t{65534}, std::size_t{65535}}) {
    for (std::size_t padding = 0; padding <= 255; ++padding) {
      CAPTURE(content);
      CAPTURE(padding);
      const std::string body = pattern(content, static_cast<unsigned>(padding));
      const std::string bytes = rec(6, 3, body, padding);
      const char* at = guard.place(bytes);
      Record r;
      const ParseResult res = parse_record(at, bytes.size(), &r);
      REQUIRE(res.status == ParseStatus::record);
      CHECK(res.consumed == 8 + content + padding);
      CHECK(r.type == 6);
      CHECK(r.request_id == 3);
      CHECK(r.padding == padding);
      REQUIRE(r.content.size() == content);
      CHECK(r.content.data() == at + 8);
      CHECK(std::memcmp(r.content.data(), body.data(), content) == 0);
      // One byte short, anywhere from the header on: incomplete, asking for the whole.
      for (std::size_t len : {std::size_t{0}, std::size_t{7}, std::size_t{8}, bytes.size() - 1}) {
        if (len >= bytes.size()) continue;
        const char* p = guard.place(std::string_view(bytes).substr(0, len));
        const ParseResult part = parse_record(p, len, &r);
        REQUIRE(part.status == ParseStatus::incomplete);
        CHECK(part.needed == (len < 8 ? 8 : bytes.size()));
      }
    }
  }
}

TEST_CASE("the largest record a header can claim is asked for whole, never read past the input") {
  GuardedBuffer guard;
  std::string header = rec(5, 1, "", 0);
  header[4] = '\xff';
  header[5] = '\xff';
  header[6] = '\xff';
  for (std::size_t extra :
       {std::size_t{0}, std::size_t{1}, std::size_t{1000}, std::size_t{65535 + 254}}) {
    std::string bytes = header + std::string(extra, 'q');
    const char* at = guard.place(bytes);
    Record r;
    const ParseResult res = parse_record(at, bytes.size(), &r);
    CHECK(res.status == ParseStatus::incomplete);
    CHECK(res.needed == 8 + 65535 + 255);
  }
}

TEST_CASE("a version other than 1 is reported, at once and after good records") {
  for (int version : {0, 2, 3, 0x7f, 0x80, 0xff}) {
    CAPTURE(version);
    const std::string bad = rec(1, 1, std::string(8, '\0'), 0, static_cast<std::uint8_t>(version));
    Record r;
    CHECK(parse_record(bad.data(), bad.size(), &r).status == ParseStatus::bad_version);
    const std::string mixed = rec(5, 1, "ok") + bad;
    const auto events = record_events(mixed.data(), mixed.size());
    REQUIRE(events.size() == 2);
    CHECK(events[0] == expect_line(5, 1, "ok", 0));
    CHECK(events[1] == "bad_version");
  }
}

TEST_CASE("every prefix of a stream, ending at an unreadable page, parses without over-reading") {
  // A stream with the edges in it: an empty record, 255 bytes of padding, a 65535-byte
  // record, a bad version at the end.
  std::string stream = rec(1, 1, std::string("\0\1\1\0\0\0\0\0", 8)) + rec(4, 1, "", 255) +
                       rec(5, 1, pattern(65535)) + rec(6, 2, "abc", 5) +
                       rec(3, 2, std::string(8, '\0')) + rec(1, 3, "", 0, 9);
  const auto whole = record_events(stream.data(), stream.size());
  REQUIRE(whole.back() == "bad_version");
  // Every length within 300 bytes of a record's start, content or end, and every 61st
  // length through the big record's content.
  std::vector<std::size_t> edges;
  for (std::size_t at = 0; at < stream.size();) {
    Record r;
    const ParseResult res = parse_record(stream.data() + at, stream.size() - at, &r);
    edges.push_back(at);
    edges.push_back(at + 8);
    if (res.status != ParseStatus::record) break;
    edges.push_back(at + 8 + r.content.size());
    at += res.consumed;
  }
  edges.push_back(stream.size());
  std::vector<bool> wanted(stream.size() + 1, false);
  for (std::size_t e : edges) {
    for (std::size_t len = e > 300 ? e - 300 : 0; len <= std::min(stream.size(), e + 300); ++len)
      wanted[len] = true;
  }
  for (std::size_t len = 0; len <= stream.size(); len += 61) wanted[len] = true;
  GuardedBuffer guard(stream.size());
  for (std::size_t len = 0; len <= stream.size(); ++len) {
    if (!wanted[len]) continue;
    const char* at = guard.place(std::string_view(stream).substr(0, len));
    auto part = record_events(at, len);
    const std::string last = part.back();
    part.pop_back();
    if (!codec_test::records_are_prefix(part, whole) ||
        !(last == "end" || last.rfind("incomplete needed=", 0) == 0 || last == "bad_version")) {
      FAIL("prefix " << len << " gave:\n" << join(part) << last);
    }
  }
}

TEST_CASE("write_header, END_REQUEST and UNKNOWN_TYPE are byte-exact and parse back") {
  char header[kHeaderSize];
  write_header(header, RecordType::stdout_stream, 0xabcd, 0x1234, 0xfe);
  CHECK(hex(std::string_view(header, 8)) == "0106abcd1234fe00");

  char end[kEndRequestSize];
  write_end_request(end, 7, 0x01020304, ProtocolStatus::unknown_role);
  CHECK(hex(std::string_view(end, 16)) ==
        "0103000700080000"
        "0102030403000000");
  Record r;
  ParseResult res = parse_record(end, sizeof end, &r);
  REQUIRE(res.status == ParseStatus::record);
  CHECK(res.consumed == 16);
  CHECK(r.type == 3);

  char unknown[kUnknownTypeSize];
  write_unknown_type(unknown, 0x63);
  CHECK(hex(std::string_view(unknown, 16)) ==
        "010b000000080000"
        "6300000000000000");
  res = parse_record(unknown, sizeof unknown, &r);
  REQUIRE(res.status == ParseStatus::record);
  CHECK(r.is_management());
}

TEST_CASE("BEGIN_REQUEST's body: exactly 8 bytes, role and flags") {
  BeginRequest b{};
  for (std::size_t n = 0; n <= 16; ++n) {
    CAPTURE(n);
    const std::string body(n, '\0');
    CHECK(parse_begin_request(body, &b) == (n == 8));
  }
  const char responder[8] = {0, 1, 1, 0, 0, 0, 0, 0};
  REQUIRE(parse_begin_request(std::string_view(responder, 8), &b));
  CHECK(b.role == Role::responder);
  CHECK(b.keep_conn());
  const char filter[8] = {0, 3, 0, 1, 2, 3, 4, 5};
  REQUIRE(parse_begin_request(std::string_view(filter, 8), &b));
  CHECK(b.role == Role::filter);
  CHECK_FALSE(b.keep_conn());
  const char odd[8] = {'\x12', '\x34', '\xfe', 0, 0, 0, 0, 0};
  REQUIRE(parse_begin_request(std::string_view(odd, 8), &b));
  CHECK(static_cast<unsigned>(b.role) == 0x1234);
  CHECK(b.flags == 0xfe);
  CHECK_FALSE(b.keep_conn());
}

TEST_CASE("padding_for aligns records to 8 bytes") {
  for (std::size_t n = 0; n <= 65535; ++n) {
    const std::size_t p = padding_for(n);
    REQUIRE(p < 8);
    REQUIRE((n + p) % 8 == 0);
  }
}

}  // namespace
