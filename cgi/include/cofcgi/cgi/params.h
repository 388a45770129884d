// FastCGI name-value pairs (PARAMS, GET_VALUES, GET_VALUES_RESULT): lengths of 1 byte
// (< 128) or 4 bytes (top bit set). Same shape as the record codec: noexcept, no
// allocation, views into the caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cofcgi/runtime/export.h"

namespace co::cgi {

enum class PairStatus {
  pair,       // *name and *value are the next pair
  end,        // the buffer is used up exactly
  truncated,  // the buffer ends inside a pair: malformed once the stream is complete
};

// ParamsReader walks the pairs of a complete params stream.
class COFCGI_API ParamsReader {
 public:
  explicit ParamsReader(std::string_view bytes) noexcept : bytes_(bytes) {}
  PairStatus next(std::string_view* name, std::string_view* value) noexcept;
  std::size_t offset() const { return pos_; }

 private:
  bool read_length(std::size_t* length) noexcept;
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

// encoded_pair_size is the bytes write_pair needs for this pair.
COFCGI_API std::size_t encoded_pair_size(std::string_view name, std::string_view value) noexcept;
// write_pair encodes one pair into [out, out+capacity); returns the bytes written, or 0 when
// it does not fit (or a length exceeds 2^31-1).
COFCGI_API std::size_t write_pair(char* out, std::size_t capacity, std::string_view name,
                                  std::string_view value) noexcept;

}  // namespace co::cgi
