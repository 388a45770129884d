// libFuzzer target: a record stream arriving in pieces. The input is
//   [k] [k piece sizes] [stream...]
// k = first byte % 16; each size byte b is one read of b bytes (0: a read of 8192, a full
// scratch buffer); the sizes repeat for the first 1024 reads (k = 0: one read of it all),
// then the rest comes in reads of 8192 (a 64 KiB record a byte at a time would only be slow).
// The pieces go through a reassembly loop shaped like the server's connection reader
// (cgi/src/connection.cpp, ConnectionReader::run: append what arrived, parse every whole
// record from the front, keep the rest, give the buffer back when it is empty). The records
// it sees and where it stops must equal one parse of the whole stream, and every
// `incomplete` must ask for more than is there, never less than it asked for before at the
// same place, and, once the header is there, exactly the record that then arrives.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "cofcgi/cgi/record.h"
#include "fuzz_check.h"

namespace {

using namespace co::cgi;

constexpr std::size_t kSizedReads = 1024;

struct Event {
  enum Kind { record, end, incomplete, bad_version } kind;
  std::uint8_t type = 0;
  std::uint16_t request_id = 0;
  std::size_t content_at = 0;  // where the content is in the stream (its bytes are checked)
  std::size_t content_size = 0;
  std::uint8_t padding = 0;
  std::size_t needed = 0;
  bool operator==(const Event&) const = default;
};

Event final_event(Event::Kind kind, std::size_t needed = 0) {
  Event e{};
  e.kind = kind;
  e.needed = needed;
  return e;
}

Event record_event(const Record& r, std::size_t content_at) {
  return {Event::record, r.type, r.request_id, content_at, r.content.size(), r.padding, 0};
}

std::vector<Event> whole_stream(std::string_view stream) {
  std::vector<Event> out;
  std::size_t offset = 0;
  for (;;) {
    if (offset == stream.size()) {
      out.push_back(final_event(Event::end));
      return out;
    }
    Record r;
    const ParseResult res = parse_record(stream.data() + offset, stream.size() - offset, &r);
    if (res.status == ParseStatus::bad_version) {
      out.push_back(final_event(Event::bad_version));
      return out;
    }
    if (res.status == ParseStatus::incomplete) {
      out.push_back(final_event(Event::incomplete, res.needed));
      return out;
    }
    COFCGI_FUZZ_CHECK(res.consumed >= kHeaderSize && res.consumed <= stream.size() - offset);
    out.push_back(record_event(r, offset + kHeaderSize));
    offset += res.consumed;
  }
}

std::vector<Event> in_pieces(std::string_view stream, std::string_view sizes) {
  std::vector<Event> out;
  std::vector<char> pending;
  std::size_t fed = 0, next_size = 0;
  std::size_t asked = 0;  // what the last incomplete at the front of `pending` asked for
  while (fed < stream.size()) {
    std::size_t n = stream.size() - fed;
    if (!sizes.empty()) {
      std::size_t piece = 8192;
      if (next_size < kSizedReads) {
        const auto b = static_cast<unsigned char>(sizes[next_size++ % sizes.size()]);
        if (b != 0) piece = b;
      }
      if (piece < n) n = piece;
    }
    pending.insert(pending.end(), stream.data() + fed, stream.data() + fed + n);
    fed += n;

    std::size_t offset = 0;
    for (;;) {
      Record r;
      const std::size_t have = pending.size() - offset;
      const ParseResult res = parse_record(pending.data() + offset, have, &r);
      if (res.status == ParseStatus::bad_version) {
        out.push_back(final_event(Event::bad_version));
        return out;
      }
      if (res.status == ParseStatus::incomplete) {
        COFCGI_FUZZ_CHECK(res.needed > have);
        COFCGI_FUZZ_CHECK(res.needed >= asked);
        if (asked > kHeaderSize) COFCGI_FUZZ_CHECK(res.needed == asked);
        asked = res.needed;
        break;
      }
      COFCGI_FUZZ_CHECK(res.consumed >= kHeaderSize && res.consumed <= have);
      COFCGI_FUZZ_CHECK(res.consumed >= asked);
      if (asked > kHeaderSize) COFCGI_FUZZ_CHECK(res.consumed == asked);
      COFCGI_FUZZ_CHECK(r.content.data() == pending.data() + offset + kHeaderSize);
      asked = 0;
      // pending[0] is stream[fed - pending.size()]: the content must be the stream's bytes.
      const std::size_t content_at = fed - pending.size() + offset + kHeaderSize;
      COFCGI_FUZZ_CHECK(content_at + r.content.size() <= stream.size());
      COFCGI_FUZZ_CHECK(
          r.content.empty() ||
          std::memcmp(r.content.data(), stream.data() + content_at, r.content.size()) == 0);
      out.push_back(record_event(r, content_at));
      offset += res.consumed;
    }
    if (offset == pending.size()) {
      std::vector<char>().swap(pending);
    } else if (offset > 0) {
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(offset));
    }
  }
  if (pending.empty()) {
    out.push_back(final_event(Event::end));
  } else {
    out.push_back(final_event(Event::incomplete, asked));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t k = static_cast<unsigned char>(input[0]) % 16;
  if (k > size - 1) k = size - 1;
  const std::string_view sizes = input.substr(1, k);
  const std::string_view stream = input.substr(1 + k);
  COFCGI_FUZZ_CHECK(in_pieces(stream, sizes) == whole_stream(stream));
  return 0;
}
