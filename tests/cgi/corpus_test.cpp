// The readable corpus (tests/cgi/corpus/*.md, format in codec_test_util.h and at the top of
// records.md): each case's input through the codec, plain, ending at a PROT_NONE page, at
// every prefix, and streamed in pieces.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "codec_test_util.h"

namespace {

using codec_test::CorpusCase;
using codec_test::join;

const std::vector<CorpusCase>& corpus() {
  static const std::vector<CorpusCase> cases = codec_test::load_corpus(COFCGI_CGI_CORPUS_DIR);
  return cases;
}

std::vector<std::string> events(const CorpusCase& c, const char* at, std::size_t len) {
  return c.mode == "records" ? codec_test::record_events(at, len)
                             : codec_test::pair_events(at, len);
}

bool is_final(const std::string& line) {
  return line == "end" || line == "bad_version" || line.rfind("incomplete", 0) == 0 ||
         line.rfind("truncated", 0) == 0;
}

std::string where(const CorpusCase& c) {
  return c.file + ":" + std::to_string(c.line) + " " + c.name;
}

TEST_CASE("the corpus is there, with malformed cases in it") {
  const auto& cases = corpus();
  CHECK(cases.size() >= 10);
  int malformed = 0, records = 0, pairs = 0;
  for (const auto& c : cases) {
    (c.mode == "records" ? records : pairs) += 1;
    const std::string all = join(c.expected);
    if (all.find("bad_version") != std::string::npos ||
        all.find("truncated") != std::string::npos || all.find("incomplete") != std::string::npos ||
        all.find("begin invalid") != std::string::npos) {
      ++malformed;
    }
    CHECK_MESSAGE(!c.expected.empty(), where(c));
    CHECK_MESSAGE(is_final(c.expected.back()),
                  where(c) << ": the last event must be end/incomplete/bad_version/truncated");
  }
  CHECK(records >= 5);
  CHECK(pairs >= 5);
  CHECK(malformed >= 8);
}

TEST_CASE("the corpus format reads what it says") {
  CHECK(codec_test::parse_bytes("01 0a0B \"A\\x00\\n\"+ff*3") == std::string("\x01\x0a\x0b"
                                                                             "A\0\n\xff\xff\xff",
                                                                             9));
  CHECK(codec_test::parse_bytes("\"ab\"*2") == "abab");
  CHECK_THROWS(codec_test::parse_bytes("0"));
  CHECK_THROWS(codec_test::parse_bytes("zz"));
  CHECK_THROWS(codec_test::parse_bytes("\"open"));
}

TEST_CASE("every corpus case gives the expected events") {
  codec_test::GuardedBuffer guard(128 * 1024);
  for (const auto& c : corpus()) {
    CAPTURE(where(c));
    const std::string want = join(c.expected);
    CHECK(join(events(c, c.input.data(), c.input.size())) == want);
    const char* at = guard.place(c.input);
    CHECK(join(events(c, at, c.input.size())) == want);
  }
}

TEST_CASE(
    "every prefix of every corpus case, ending at an unreadable page, gives a prefix of its "
    "events") {
  codec_test::GuardedBuffer guard(128 * 1024);
  for (const auto& c : corpus()) {
    CAPTURE(where(c));
    std::vector<std::string> whole = c.expected;
    whole.pop_back();
    const std::size_t step = c.input.size() > 4096 ? 97 : 1;  // the 64 KiB case: a sample
    std::vector<std::size_t> lengths;
    for (std::size_t len = 0; len < c.input.size(); len += step) lengths.push_back(len);
    lengths.push_back(c.input.size());
    for (std::size_t len : lengths) {
      const char* at = guard.place(std::string_view(c.input).substr(0, len));
      auto part = events(c, at, len);
      const std::string last = part.back();
      part.pop_back();
      if (!codec_test::records_are_prefix(part, whole) || !is_final(last)) {
        FAIL(where(c) << ": prefix " << len << " gave:\n" << join(part) << last);
      }
    }
  }
}

TEST_CASE("every record corpus case streamed in pieces gives the same events") {
  for (const auto& c : corpus()) {
    if (c.mode != "records") continue;
    CAPTURE(where(c));
    const std::string want = join(c.expected);
    const std::size_t step = c.input.size() > 4096 ? 97 : 1;
    for (std::size_t cut = 0; cut <= c.input.size(); cut += step) {
      const std::string got = join(codec_test::streamed_record_events(c.input, {cut}));
      if (got != want) FAIL(where(c) << ": split at " << cut << " gave:\n" << got);
    }
    std::vector<std::size_t> each;
    for (std::size_t i = 1; i < c.input.size(); ++i) each.push_back(i);
    CHECK(join(codec_test::streamed_record_events(c.input, each)) == want);
  }
}

}  // namespace
