// libFuzzer target over the name-value pair codec (cgi/include/cofcgi/cgi/params.h):
// ParamsReader walks arbitrary bytes; every pair is checked against a decoding of its
// length bytes done here, and must lie inside the input; a truncated pair must really run
// past the end. What was read is then encoded with write_pair (into buffers of exactly the
// size it asks for) and read back equal; for canonically encoded input (1-byte lengths below
// 128) the encoding is the input itself.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "cofcgi/cgi/params.h"
#include "fuzz_check.h"

namespace {

using namespace co::cgi;

// One length at bytes[*pos] as the spec gives it, or false when the bytes end inside it.
bool decode_length(std::string_view bytes, std::size_t* pos, std::size_t* length) {
  if (*pos >= bytes.size()) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + *pos;
  if ((p[0] & 0x80) == 0) {
    *length = p[0];
    *pos += 1;
    return true;
  }
  if (bytes.size() - *pos < 4) return false;
  *length = (std::size_t{p[0] & 0x7fu} << 24) | (std::size_t{p[1]} << 16) |
            (std::size_t{p[2]} << 8) | p[3];
  *pos += 4;
  return true;
}

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.size() <= whole.size() &&
         part.data() - whole.data() <= static_cast<std::ptrdiff_t>(whole.size() - part.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ParamsReader reader(bytes);
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  bool canonical = true;
  for (;;) {
    const std::size_t before = reader.offset();
    COFCGI_FUZZ_CHECK(before <= size);
    std::string_view name, value;
    const PairStatus status = reader.next(&name, &value);
    std::size_t pos = before, name_length = 0, value_length = 0;
    const bool lengths_there =
        decode_length(bytes, &pos, &name_length) && decode_length(bytes, &pos, &value_length);
    if (status == PairStatus::end) {
      COFCGI_FUZZ_CHECK(before == size && reader.offset() == size);
      break;
    }
    if (status == PairStatus::truncated) {
      // Nothing consumed, and the pair really does not fit.
      COFCGI_FUZZ_CHECK(reader.offset() == before && before < size);
      COFCGI_FUZZ_CHECK(!lengths_there || name_length > size - pos ||
                        value_length > size - pos - name_length);
      break;
    }
    COFCGI_FUZZ_CHECK(status == PairStatus::pair);
    COFCGI_FUZZ_CHECK(lengths_there);
    COFCGI_FUZZ_CHECK(name.size() == name_length && value.size() == value_length);
    COFCGI_FUZZ_CHECK(inside(name, bytes) && inside(value, bytes));
    COFCGI_FUZZ_CHECK(name.data() == bytes.data() + pos);
    COFCGI_FUZZ_CHECK(value.data() == name.data() + name.size());
    COFCGI_FUZZ_CHECK(reader.offset() == pos + name_length + value_length);
    COFCGI_FUZZ_CHECK(reader.offset() > before && reader.offset() <= size);
    const std::size_t encoded = encoded_pair_size(name, value);
    COFCGI_FUZZ_CHECK(encoded <= reader.offset() - before);
    if (encoded != reader.offset() - before) canonical = false;
    pairs.emplace_back(name, value);
  }

  // Encode what was read, pair by pair, each into a buffer of exactly its size (so that ASan
  // sees any byte written past it); one byte less must be refused without a write.
  std::string encoded_all;
  for (const auto& [name, value] : pairs) {
    const std::size_t want = encoded_pair_size(name, value);
    const auto exact = std::make_unique<char[]>(want);
    COFCGI_FUZZ_CHECK(write_pair(exact.get(), want, name, value) == want);
    const auto short_by_one = std::make_unique<char[]>(want - 1);
    COFCGI_FUZZ_CHECK(write_pair(short_by_one.get(), want - 1, name, value) == 0);
    encoded_all.append(exact.get(), want);
  }
  if (canonical) {
    COFCGI_FUZZ_CHECK(encoded_all.size() <= size);
    COFCGI_FUZZ_CHECK(std::memcmp(encoded_all.data(), bytes.data(), encoded_all.size()) == 0);
  }

  // ... and read back equal, ending exactly at the end.
  ParamsReader back(encoded_all);
  for (const auto& [name, value] : pairs) {
    std::string_view n, v;
    COFCGI_FUZZ_CHECK(back.next(&n, &v) == PairStatus::pair);
    COFCGI_FUZZ_CHECK(n == name && v == value);
  }
  std::string_view n, v;
  COFCGI_FUZZ_CHECK(back.next(&n, &v) == PairStatus::end);
  COFCGI_FUZZ_CHECK(back.offset() == encoded_all.size());
  return 0;
}
