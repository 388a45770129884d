#include "codec_test_util.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "cofcgi/cgi/params.h"
#include "cofcgi/cgi/record.h"

namespace codec_test {

using co::cgi::ParseResult;
using co::cgi::ParseStatus;
using co::cgi::Record;

// ---- GuardedBuffer ----------------------------------------------------------------------

GuardedBuffer::GuardedBuffer(std::size_t capacity) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  readable_ = (capacity + page - 1) / page * page;
  if (readable_ == 0) readable_ = page;
  mapped_ = readable_ + page;
  void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
  base_ = static_cast<char*>(p);
  if (::mprotect(base_ + readable_, page, PROT_NONE) != 0) {
    throw std::system_error(errno, std::generic_category(), "mprotect");
  }
}

GuardedBuffer::~GuardedBuffer() { ::munmap(base_, mapped_); }

const char* GuardedBuffer::place(std::string_view bytes) {
  if (bytes.size() > readable_) throw std::length_error("GuardedBuffer too small");
  char* start = base_ + readable_ - bytes.size();
  if (!bytes.empty()) std::memcpy(start, bytes.data(), bytes.size());
  return start;
}

// ---- events -----------------------------------------------------------------------------

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    out += l.size() > 300 ? l.substr(0, 300) + "...(" + std::to_string(l.size()) + " chars)" : l;
    out += '\n';
  }
  return out;
}

namespace {

void record_lines(const Record& r, std::vector<std::string>* out) {
  char head[96];
  std::snprintf(head, sizeof head, "record type=%u id=%u content=", r.type, r.request_id);
  out->push_back(head + hex(r.content) + " padding=" + std::to_string(r.padding));
  if (r.type == static_cast<std::uint8_t>(co::cgi::RecordType::begin_request)) {
    co::cgi::BeginRequest begin{};
    if (co::cgi::parse_begin_request(r.content, &begin)) {
      out->push_back("begin role=" + std::to_string(static_cast<unsigned>(begin.role)) +
                     " flags=" + std::to_string(begin.flags));
    } else {
      out->push_back("begin invalid");
    }
  }
}

}  // namespace

std::vector<std::string> record_events(const char* buf, std::size_t len) {
  std::vector<std::string> out;
  std::size_t offset = 0;
  for (;;) {
    if (offset == len) {
      out.emplace_back("end");
      return out;
    }
    Record r;
    const ParseResult res = co::cgi::parse_record(buf + offset, len - offset, &r);
    switch (res.status) {
      case ParseStatus::record:
        if (res.consumed < co::cgi::kHeaderSize || res.consumed > len - offset) {
          out.push_back("BUG consumed=" + std::to_string(res.consumed));
          return out;
        }
        if (r.content.data() != buf + offset + co::cgi::kHeaderSize)
          out.emplace_back("BUG content not in place");
        record_lines(r, &out);
        offset += res.consumed;
        break;
      case ParseStatus::incomplete:
        out.push_back("incomplete needed=" + std::to_string(res.needed));
        return out;
      case ParseStatus::bad_version: out.emplace_back("bad_version"); return out;
    }
  }
}

std::vector<std::string> pair_events(const char* buf, std::size_t len) {
  std::vector<std::string> out;
  co::cgi::ParamsReader reader(std::string_view(buf, len));
  for (;;) {
    std::string_view name, value;
    const std::size_t before = reader.offset();
    switch (reader.next(&name, &value)) {
      case co::cgi::PairStatus::pair:
        if (reader.offset() <= before && !(name.empty() && value.empty()))
          out.emplace_back("BUG no progress");
        out.push_back("pair name=" + hex(name) + " value=" + hex(value));
        if (out.size() > len + 2) {
          out.emplace_back("BUG endless");
          return out;
        }
        break;
      case co::cgi::PairStatus::end: out.emplace_back("end"); return out;
      case co::cgi::PairStatus::truncated:
        out.push_back("truncated offset=" + std::to_string(reader.offset()));
        return out;
    }
  }
}

std::vector<std::string> streamed_record_events(std::string_view input,
                                                const std::vector<std::size_t>& cuts) {
  std::vector<std::string> out;
  std::string buffer;
  std::size_t fed = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(input.size());
  std::string last_incomplete;
  for (std::size_t end : ends) {
    if (end < fed || end > input.size()) continue;
    buffer.append(input.substr(fed, end - fed));
    fed = end;
    std::size_t offset = 0;
    for (;;) {
      Record r;
      const ParseResult res =
          co::cgi::parse_record(buffer.data() + offset, buffer.size() - offset, &r);
      if (res.status == ParseStatus::bad_version) {
        out.emplace_back("bad_version");
        return out;
      }
      if (res.status == ParseStatus::incomplete) {
        // The reader waits for `needed` bytes: it must be more than it has.
        if (res.needed <= buffer.size() - offset)
          out.push_back("BUG needed=" + std::to_string(res.needed));
        last_incomplete = "incomplete needed=" + std::to_string(res.needed);
        break;
      }
      record_lines(r, &out);
      offset += res.consumed;
    }
    buffer.erase(0, offset);
  }
  out.push_back(buffer.empty() ? std::string("end") : last_incomplete);
  return out;
}

bool records_are_prefix(const std::vector<std::string>& part,
                        const std::vector<std::string>& whole) {
  if (part.size() > whole.size()) return false;
  return std::equal(part.begin(), part.end(), whole.begin());
}

// ---- corpus -----------------------------------------------------------------------------

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string strip_comment(const std::string& line) {
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && quoted) {
      ++i;
      continue;
    }
    if (line[i] == '"') quoted = !quoted;
    if (line[i] == '#' && !quoted) return line.substr(0, i);
  }
  return line;
}

// One segment at text[*pos]; returns its bytes (repetition applied).
std::string parse_segment(std::string_view text, std::size_t* pos) {
  std::string bytes;
  std::size_t i = *pos;
  if (text[i] == '"') {
    ++i;
    for (;;) {
      if (i >= text.size()) throw std::invalid_argument("unterminated string");
      const char c = text[i++];
      if (c == '"') break;
      if (c != '\\') {
        bytes.push_back(c);
        continue;
      }
      if (i >= text.size()) throw std::invalid_argument("dangling backslash");
      const char e = text[i++];
      switch (e) {
        case 'n': bytes.push_back('\n'); break;
        case 'r': bytes.push_back('\r'); break;
        case 't': bytes.push_back('\t'); break;
        case '\\': bytes.push_back('\\'); break;
        case '"': bytes.push_back('"'); break;
        case 'x': {
          if (i + 1 >= text.size() || hex_digit(text[i]) < 0 || hex_digit(text[i + 1]) < 0) {
            throw std::invalid_argument("bad \\x escape");
          }
          bytes.push_back(static_cast<char>(hex_digit(text[i]) * 16 + hex_digit(text[i + 1])));
          i += 2;
          break;
        }
        default: throw std::invalid_argument(std::string("unknown escape \\") + e);
      }
    }
  } else {
    const std::size_t start = i;
    while (i < text.size() && hex_digit(text[i]) >= 0) ++i;
    const std::size_t n = i - start;
    if (n == 0)
      throw std::invalid_argument("expected hex or a string at '" +
                                  std::string(text.substr(start, 20)) + "'");
    if (n % 2 != 0)
      throw std::invalid_argument("odd number of hex digits in '" +
                                  std::string(text.substr(start, n)) + "'");
    for (std::size_t k = start; k < i; k += 2) {
      bytes.push_back(static_cast<char>(hex_digit(text[k]) * 16 + hex_digit(text[k + 1])));
    }
  }
  if (i < text.size() && text[i] == '*') {
    ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start) throw std::invalid_argument("'*' needs a count");
    const std::size_t count = std::stoul(std::string(text.substr(start, i - start)));
    std::string repeated;
    repeated.reserve(bytes.size() * count);
    for (std::size_t k = 0; k < count; ++k) repeated += bytes;
    bytes = std::move(repeated);
  }
  *pos = i;
  return bytes;
}

std::string number_text(const std::string& v) {
  std::size_t used = 0;
  const unsigned long long n = std::stoull(v, &used, 0);
  if (used != v.size()) throw std::invalid_argument("not a number: " + v);
  return std::to_string(n);
}

// Splits "record type=1 content="a b"+00 padding=0" into words, keeping quoted blanks.
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '\\' && i + 1 < line.size()) {
      cur += c;
      cur += line[++i];
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == ' ' || c == '\t')) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string normalize_event(const std::string& line) {
  const std::vector<std::string> w = words(line);
  if (w.empty()) return {};
  std::string out = w[0];
  for (std::size_t i = 1; i < w.size(); ++i) {
    const std::size_t eq = w[i].find('=');
    if (eq == std::string::npos) {
      out += " " + w[i];  // "begin invalid"
      continue;
    }
    const std::string key = w[i].substr(0, eq);
    const std::string value = w[i].substr(eq + 1);
    out += " " + key + "=";
    if (key == "content" || key == "name" || key == "value") {
      out += hex(parse_bytes(value));
    } else {
      out += number_text(value);
    }
  }
  return out;
}

}  // namespace

std::string parse_bytes(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '+') {
      ++i;
      continue;
    }
    out += parse_segment(text, &i);
  }
  return out;
}

std::vector<CorpusCase> load_corpus_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<CorpusCase> cases;
  CorpusCase cur;
  bool have_input = false, have_expected = false;
  auto finish = [&] {
    if (cur.name.empty()) return;
    if (!have_input || !have_expected) {
      throw std::runtime_error(path + ":" + std::to_string(cur.line) + ": case '" + cur.name +
                               "' needs a ```hex block and a ```records or ```pairs block");
    }
    cases.push_back(cur);
  };
  std::string line;
  int lineno = 0;
  std::string block;  // "" outside a fenced block
  std::string block_text;
  std::vector<std::string> block_lines;
  while (std::getline(in, line)) {
    ++lineno;
    if (!block.empty()) {
      if (line.rfind("```", 0) == 0) {
        try {
          if (block == "hex") {
            cur.input = parse_bytes(block_text);
            have_input = true;
          } else {
            cur.mode = block;
            for (const auto& l : block_lines) {
              std::string e = normalize_event(l);
              if (!e.empty()) cur.expected.push_back(e);
            }
            have_expected = true;
          }
        } catch (const std::exception& e) {
          throw std::runtime_error(path + ":" + std::to_string(lineno) + ": " + e.what());
        }
        block.clear();
        continue;
      }
      const std::string text = strip_comment(line);
      block_text += text + "\n";
      block_lines.push_back(text);
      continue;
    }
    if (line.rfind("### ", 0) == 0) {
      finish();
      cur = CorpusCase{};
      cur.file = std::filesystem::path(path).filename().string();
      cur.line = lineno;
      cur.name = line.substr(4);
      have_input = have_expected = false;
      continue;
    }
    if (line.rfind("```", 0) == 0) {
      const std::string kind = line.substr(3);
      if (kind == "hex" || kind == "records" || kind == "pairs") {
        if (cur.name.empty())
          throw std::runtime_error(path + ":" + std::to_string(lineno) + ": block outside a case");
        block = kind;
        block_text.clear();
        block_lines.clear();
      } else {
        // Some other fenced block (documentation): skip to its end.
        while (std::getline(in, line)) {
          ++lineno;
          if (line.rfind("```", 0) == 0) break;
        }
      }
    }
  }
  if (!block.empty()) throw std::runtime_error(path + ": unterminated ``` block");
  finish();
  return cases;
}

std::vector<CorpusCase> load_corpus(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".md") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<CorpusCase> all;
  for (const auto& f : files) {
    auto cases = load_corpus_file(f);
    all.insert(all.end(), cases.begin(), cases.end());
  }
  return all;
}

}  // namespace codec_test
