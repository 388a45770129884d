// See json.h.
#include "cofcgi/cgi/json.h"

#include <charconv>
#include <cmath>
#include <cstddef>

namespace co::cgi {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// utf8_sequence_length: the length of the well-formed UTF-8 sequence starting at text[i]
// (2..4), or 0 when text[i] does not start one (RFC 3629 section 4's table: no overlong
// forms, no surrogates D800-DFFF, nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) -> unsigned {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0;
  };
  const auto continuation = [&](std::size_t k) { return (byte(k) & 0xC0) == 0x80; };
  const unsigned b0 = byte(0), b1 = byte(1);
  if (b0 >= 0xC2 && b0 <= 0xDF) return continuation(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const bool second_ok = (b0 == 0xE0)   ? (b1 >= 0xA0 && b1 <= 0xBF)
                           : (b0 == 0xED) ? (b1 >= 0x80 && b1 <= 0x9F)
                                          : continuation(1);
    return second_ok && continuation(2) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const bool second_ok = (b0 == 0xF0)   ? (b1 >= 0x90 && b1 <= 0xBF)
                           : (b0 == 0xF4) ? (b1 >= 0x80 && b1 <= 0x8F)
                                          : continuation(1);
    return second_ok && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

// append_control appends the JSON escape of an ASCII control character.
void append_control(std::string& out, unsigned char c) {
  switch (c) {
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    default: break;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u00";
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xF]);
}

template <typename Number>
void append_number(std::string& out, Number number) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, number);
  out.append(buf, ec == std::errc() ? static_cast<std::size_t>(end - buf) : 0);
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  // Runs of bytes that need nothing are appended whole.
  std::size_t plain_from = 0;
  std::size_t i = 0;
  const auto flush_plain = [&] { out.append(text.substr(plain_from, i - plain_from)); };
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (const std::size_t n = utf8_sequence_length(text, i); n != 0) {
        i += n;
        continue;
      }
      flush_plain();
      out.append(kReplacement);
    } else {
      flush_plain();
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else {
        append_control(out, c);
      }
    }
    plain_from = ++i;
  }
  flush_plain();
  out.push_back('"');
}

void JsonWriter::before_value() {
  if (after_value_) out_.push_back(',');
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_.push_back('{');
  after_value_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_.push_back('}');
  after_value_ = true;
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_.push_back('[');
  after_value_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_.push_back(']');
  after_value_ = true;
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  before_value();
  append_json_string(out_, name);
  out_.push_back(':');
  after_value_ = false;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view text) {
  before_value();
  append_json_string(out_, text);
  after_value_ = true;
  return *this;
}

JsonWriter& JsonWriter::signed_value(std::int64_t number) {
  before_value();
  append_number(out_, number);
  after_value_ = true;
  return *this;
}

JsonWriter& JsonWriter::unsigned_value(std::uint64_t number) {
  before_value();
  append_number(out_, number);
  after_value_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(double number) {
  if (!std::isfinite(number)) return null();
  before_value();
  append_number(out_, number);
  after_value_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(bool flag) {
  before_value();
  out_.append(flag ? "true" : "false");
  after_value_ = true;
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_.append("null");
  after_value_ = true;
  return *this;
}

}  // namespace co::cgi
