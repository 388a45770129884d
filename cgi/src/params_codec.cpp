#include <cstring>

#include "cofcgi/cgi/params.h"

namespace co::cgi {

bool ParamsReader::read_length(std::size_t* length) noexcept {
  if (pos_ >= bytes_.size()) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes_.data()) + pos_;
  if ((p[0] & 0x80) == 0) {
    *length = p[0];
    pos_ += 1;
    return true;
  }
  if (bytes_.size() - pos_ < 4) return false;
  *length = (static_cast<std::size_t>(p[0] & 0x7f) << 24) | (static_cast<std::size_t>(p[1]) << 16) |
            (static_cast<std::size_t>(p[2]) << 8) | p[3];
  pos_ += 4;
  return true;
}

PairStatus ParamsReader::next(std::string_view* name, std::string_view* value) noexcept {
  if (pos_ == bytes_.size()) return PairStatus::end;
  const std::size_t start = pos_;
  std::size_t name_length = 0;
  std::size_t value_length = 0;
  // Each length is checked against what is left before it is used: a 4-byte length can
  // claim up to 2 GiB (the CVE-2025-23016 class of bug in libfcgi's parser).
  if (!read_length(&name_length) || !read_length(&value_length) ||
      name_length > bytes_.size() - pos_ || value_length > bytes_.size() - pos_ - name_length) {
    pos_ = start;
    return PairStatus::truncated;
  }
  *name = bytes_.substr(pos_, name_length);
  *value = bytes_.substr(pos_ + name_length, value_length);
  pos_ += name_length + value_length;
  return PairStatus::pair;
}

namespace {

std::size_t length_size(std::size_t n) { return n < 128 ? 1 : 4; }

char* write_length(char* out, std::size_t n) {
  if (n < 128) {
    *out++ = static_cast<char>(n);
    return out;
  }
  out[0] = static_cast<char>(((n >> 24) & 0x7f) | 0x80);
  out[1] = static_cast<char>((n >> 16) & 0xff);
  out[2] = static_cast<char>((n >> 8) & 0xff);
  out[3] = static_cast<char>(n & 0xff);
  return out + 4;
}

}  // namespace

std::size_t encoded_pair_size(std::string_view name, std::string_view value) noexcept {
  return length_size(name.size()) + length_size(value.size()) + name.size() + value.size();
}

std::size_t write_pair(char* out, std::size_t capacity, std::string_view name,
                       std::string_view value) noexcept {
  constexpr std::size_t kMaxLength = 0x7fffffff;
  if (name.size() > kMaxLength || value.size() > kMaxLength) return 0;
  const std::size_t size = encoded_pair_size(name, value);
  if (size > capacity) return 0;
  char* p = write_length(out, name.size());
  p = write_length(p, value.size());
  std::memcpy(p, name.data(), name.size());
  std::memcpy(p + name.size(), value.data(), value.size());
  return size;
}

}  // namespace co::cgi
