// The name-value pair codec (cgi/src/params_codec.cpp): 1- and 4-byte lengths at their
// edges, lengths that claim more than there is (up to 2^31-1, the CVE-2025-23016 class),
// every prefix of a stream at an unreadable page, and the writer.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "codec_test_util.h"
#include "cofcgi/cgi/params.h"

namespace {

using namespace co::cgi;
using codec_test::GuardedBuffer;
using codec_test::hex;
using codec_test::join;
using codec_test::pair_events;

std::string len1(std::size_t n) { return std::string(1, static_cast<char>(n)); }
std::string len4(std::uint32_t n) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(0x80 | ((n >> 24) & 0x7f));
  s[1] = static_cast<char>((n >> 16) & 0xff);
  s[2] = static_cast<char>((n >> 8) & 0xff);
  s[3] = static_cast<char>(n & 0xff);
  return s;
}
std::string encode(std::string_view name, std::string_view value) {
  std::string out =
      name.size() < 128 ? len1(name.size()) : len4(static_cast<std::uint32_t>(name.size()));
  out += value.size() < 128 ? len1(value.size()) : len4(static_cast<std::uint32_t>(value.size()));
  out += name;
  out += value;
  return out;
}
std::string pair_line(std::string_view name, std::string_view value) {
  return "pair name=" + hex(name) + " value=" + hex(value);
}

TEST_CASE("pairs with 1-byte and 4-byte lengths at the 127/128 edge, and empty ones") {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{126}, std::size_t{127},
                        std::size_t{128}, std::size_t{129}, std::size_t{255}, std::size_t{256},
                        std::size_t{65535}, std::size_t{65536}, std::size_t{70000}}) {
    CAPTURE(n);
    const std::string name(n, 'N');
    const std::string value(n == 0 ? 0 : n + 1, 'v');
    const std::string bytes = encode(name, value) + encode("", "") + encode("X", "");
    CHECK(bytes.size() == encoded_pair_size(name, value) + 2 + 3);
    GuardedBuffer guard(bytes.size());
    const char* at = guard.place(bytes);
    CHECK(join(pair_events(at, bytes.size())) ==
          join({pair_line(name, value), pair_line("", ""), pair_line("X", ""), "end"}));
  }
}

TEST_CASE("a 4-byte length may encode a small number; the top bit is not part of it") {
  const std::string bytes = len4(5) + len4(0) + "hello" + len1(0) + len4(3) + "abc";
  CHECK(join(pair_events(bytes.data(), bytes.size())) ==
        join({pair_line("hello", ""), pair_line("", "abc"), "end"}));
}

TEST_CASE("lengths that claim more than there is are truncated, without reading past the input") {
  GuardedBuffer guard;
  const std::string good = encode("A", "1");
  struct Case {
    const char* what;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"name length 2^31-1", len4(0x7fffffff) + len1(0) + "abc"},
      {"value length 2^31-1", len1(1) + len4(0x7fffffff) + "n"},
      {"both 2^31-1 (CVE-2025-23016's overflow)", len4(0x7fffffff) + len4(0x7fffffff) + "xy"},
      {"name+value overflow a 32-bit sum", len4(0x7ffffff0) + len4(0x7ffffff0)},
      {"value one byte longer than what is left", len1(1) + len1(4) + "n" + "abc"},
      {"name one byte longer than what is left", len1(5) + len1(0) + "abcd"},
      {"a 1-byte name length and nothing else", len1(3)},
      {"a 4-byte length cut after 1 byte", std::string("\x80", 1)},
      {"a 4-byte length cut after 3 bytes", std::string("\x80\x00\x01", 3)},
      {"a value length cut after 2 bytes", len1(1) + std::string("\x80\x00", 2)},
      {"128 claimed with 127 there", len4(128) + len1(0) + std::string(127, 'z')},
  };
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    const std::string bytes = good + c.bytes;
    const char* at = guard.place(bytes);
    CHECK(join(pair_events(at, bytes.size())) ==
          join({pair_line("A", "1"), "truncated offset=" + std::to_string(good.size())}));
    // The reader stays where it was: asking again gives the same answer.
    ParamsReader reader(std::string_view(at, bytes.size()));
    std::string_view n, v;
    REQUIRE(reader.next(&n, &v) == PairStatus::pair);
    CHECK(reader.next(&n, &v) == PairStatus::truncated);
    CHECK(reader.next(&n, &v) == PairStatus::truncated);
    CHECK(reader.offset() == good.size());
  }
}

TEST_CASE(
    "every prefix of a params stream, ending at an unreadable page, parses without over-reading") {
  std::string stream;
  std::vector<std::string> whole;
  auto add = [&](const std::string& name, const std::string& value) {
    stream += encode(name, value);
    whole.push_back(pair_line(name, value));
  };
  add("REQUEST_METHOD", "GET");
  add("", "");
  add(std::string(127, 'a'), std::string(128, 'b'));
  add(std::string(128, 'c'), "");
  add("Q", std::string(300, '\xff'));
  add("HTTP_X", std::string(1, '\0'));
  std::vector<std::size_t> boundaries = {0};
  {
    ParamsReader r(stream);
    std::string_view n, v;
    while (r.next(&n, &v) == PairStatus::pair) boundaries.push_back(r.offset());
  }
  GuardedBuffer guard(stream.size());
  for (std::size_t len = 0; len <= stream.size(); ++len) {
    const char* at = guard.place(std::string_view(stream).substr(0, len));
    const auto events = pair_events(at, len);
    // Whole pairs up to the last boundary within the prefix, then end (at a boundary) or
    // truncated at that boundary.
    std::size_t complete = 0;
    while (complete + 1 < boundaries.size() && boundaries[complete + 1] <= len) ++complete;
    std::vector<std::string> want(whole.begin(),
                                  whole.begin() + static_cast<std::ptrdiff_t>(complete));
    want.push_back(boundaries[complete] == len
                       ? std::string("end")
                       : "truncated offset=" + std::to_string(boundaries[complete]));
    if (join(events) != join(want))
      FAIL("prefix " << len << ":\n" << join(events) << "want:\n" << join(want));
  }
}

TEST_CASE("write_pair encodes what ParamsReader reads, at the length edges") {
  for (std::size_t n : {std::size_t{0}, std::size_t{127}, std::size_t{128}, std::size_t{100000}}) {
    CAPTURE(n);
    const std::string name(n, 'k');
    const std::string value(n / 2, 'w');
    const std::size_t size = encoded_pair_size(name, value);
    CHECK(size == (n < 128 ? 1u : 4u) + (n / 2 < 128 ? 1u : 4u) + n + n / 2);
    std::string out(size, '\0');
    REQUIRE(write_pair(out.data(), out.size(), name, value) == size);
    CHECK(out == encode(name, value));
    // One byte short: nothing written.
    std::string small(size - 1, '#');
    CHECK(write_pair(small.data(), small.size(), name, value) == 0);
    CHECK(small == std::string(size - 1, '#'));
  }
  // Exact bytes at the edge.
  char buf[16];
  REQUIRE(write_pair(buf, sizeof buf, "", "") == 2);
  CHECK(hex(std::string_view(buf, 2)) == "0000");
  const std::string v128(128, 'x');
  std::string big(4 + 1 + 128 + 1, '\0');
  REQUIRE(write_pair(big.data(), big.size(), "N", v128) == 134);
  CHECK(hex(big.substr(0, 6)) ==
        "01"
        "80000080"
        "4e");
}

TEST_CASE("write_pair refuses a length over 2^31-1 without touching the bytes") {
  // A view that claims 2 GiB over a 16-byte buffer: write_pair must decide from the size.
  static const char tiny[16] = {};
  const std::string_view huge(tiny, std::size_t{0x80000000});
  char out[64];
  CHECK(write_pair(out, sizeof out, huge, "v") == 0);
  CHECK(write_pair(out, sizeof out, "n", huge) == 0);
  const std::string_view max_ok(tiny, std::size_t{0x7fffffff});
  CHECK(encoded_pair_size("n", max_ok) == 1 + 4 + 1 + 0x7fffffffULL);
  CHECK(write_pair(out, sizeof out, "n", max_ok) == 0);  // does not fit in 64 bytes
}

}  // namespace
