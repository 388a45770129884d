// Harness for the FastCGI codec tests: inputs placed to end exactly at a PROT_NONE page
// (picohttpparser's way of catching every over-read), the codec's output written as lines of
// text ("events") so that cases compare as strings, a streaming reader fed in arbitrary
// pieces, and the parser of the readable corpus in tests/cgi/corpus/*.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace codec_test {

// GuardedBuffer: readable pages followed by a PROT_NONE page. place() copies bytes so that
// the last one sits right before the unreadable page and returns where they start.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(std::size_t capacity = 128 * 1024);
  ~GuardedBuffer();
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  const char* place(std::string_view bytes);
  std::size_t capacity() const { return readable_; }

 private:
  char* base_ = nullptr;
  std::size_t readable_ = 0;
  std::size_t mapped_ = 0;
};

// Events, one line each:
//   record type=T id=I content=HEX padding=P    a record parse_record returned
//   begin role=R flags=F | begin invalid        after a BEGIN_REQUEST record: its body
//   end                                         the input was used up exactly
//   incomplete needed=N                         the input ends inside a record
//   bad_version                                 the record at this point is not version 1
// record_events parses records from the front of [buf, buf+len) until one of the last three.
std::vector<std::string> record_events(const char* buf, std::size_t len);
//   pair name=HEX value=HEX | end | truncated offset=N
std::vector<std::string> pair_events(const char* buf, std::size_t len);

// streamed_record_events feeds `input` to a reader that works like the server's connection
// reader (append what arrived, parse every whole record, keep the rest) in pieces that end
// at the given offsets; the result must equal record_events(input).
std::vector<std::string> streamed_record_events(std::string_view input,
                                                const std::vector<std::size_t>& cuts);

// is_prefix: `part` (events of a prefix of some input, without its final status line) is a
// prefix of `whole` (the events of the whole input).
bool records_are_prefix(const std::vector<std::string>& part,
                        const std::vector<std::string>& whole);

std::string hex(std::string_view bytes);
std::string join(const std::vector<std::string>& lines);

// ---- the corpus -------------------------------------------------------------------------
//
// A corpus file is Markdown. Each case is a "### name" heading, free text, a ```hex block
// with the input, and a ```records or ```pairs block with the expected events. In both
// blocks '#' starts a comment. Input bytes and the values of content=, name= and value= are
// written as segments joined by '+' (or separated by blanks in the hex block):
//   01 0a ff         hex bytes (pairs of digits; "0001ff" is three bytes)
//   "PATH\x00\n"     text, with \\ \" \n \r \t \xHH escapes
//   00*255  "a"*128  a segment repeated
// Numbers (type=, id=, padding=, needed=, offset=, role=, flags=) may be decimal or 0x hex.
struct CorpusCase {
  std::string file;
  int line = 0;  // of the heading
  std::string name;
  std::string mode;  // "records" or "pairs"
  std::string input;
  std::vector<std::string> expected;  // normalized event lines
};

// parse_bytes reads segments (throws std::invalid_argument with the reason).
std::string parse_bytes(std::string_view text);
std::vector<CorpusCase> load_corpus_file(const std::string& path);
std::vector<CorpusCase> load_corpus(const std::string& dir);  // every *.md, sorted by name

}  // namespace codec_test
