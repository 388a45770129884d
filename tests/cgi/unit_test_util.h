// What the cgi_unit_tests share: a RequestState built by hand over a RecordSink that keeps
// what it is sent, params laid out as the params codec lays them out (views into the
// request's own params_bytes), and the records a sink got, parsed back.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "body_budget.h"
#include "cofcgi/cgi/record.h"
#include "request_state.h"
#include "stdout_frames.h"

namespace cofcgi_test {

// TestSink: a RecordSink appending the records it is sent to `out`, framed as a connection
// frames them (stdout_frames.h); `refuse` makes send fail. `batches` counts the
// writev/sendmsg calls a connection would make.
class TestSink final : public co::cgi::detail::RecordSink {
 public:
  bool send(co::cgi::detail::RequestState& request,
            const co::cgi::detail::ResponsePart& part) override {
    ++sends;
    if (refuse) return false;
    co::cgi::detail::StdoutFrames frames(request.id, part);
    while (!frames.done()) {
      ++batches;
      for (const iovec& piece : frames.next())
        out.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
    }
    return true;
  }
  void cut_short(co::cgi::detail::RequestState&) override { ++cut_shorts; }

  std::string out;
  bool refuse = false;
  int sends = 0;
  int batches = 0;
  int cut_shorts = 0;
};

// UnitRequest: one request as a connection would hold it, with its own budget.
struct UnitRequest {
  static constexpr std::uint16_t kId = 7;
  explicit UnitRequest(std::size_t max_body = 1 << 20, std::size_t connection_cap = 1 << 20,
                       std::size_t process_cap = 1 << 24)
      : budget(process_total, connection_cap, process_cap), state(sink, budget, kId, max_body) {}

  // set_params stores names and values in state.params_bytes and points state.params at
  // them (called once, before the views are used).
  void set_params(std::initializer_list<std::pair<std::string_view, std::string_view>> params) {
    std::string& bytes = state.params_bytes;
    bytes.clear();
    for (const auto& [name, value] : params) {
      bytes.append(name);
      bytes.append(value);
    }
    state.params.clear();
    std::size_t at = 0;
    for (const auto& [name, value] : params) {
      const std::string_view all(bytes);
      state.params.emplace_back(all.substr(at, name.size()),
                                all.substr(at + name.size(), value.size()));
      at += name.size() + value.size();
    }
  }

  std::atomic<std::size_t> process_total{0};
  TestSink sink;
  co::cgi::detail::BodyBudget budget;
  co::cgi::detail::RequestState state;
};

struct ParsedRecord {
  std::uint8_t type = 0;
  std::uint16_t request_id = 0;
  std::string content;
};

// parse_records splits `bytes` into whole records; a trailing partial record fails the test.
inline std::vector<ParsedRecord> parse_records(std::string_view bytes) {
  std::vector<ParsedRecord> records;
  while (!bytes.empty()) {
    co::cgi::Record record;
    const co::cgi::ParseResult result = co::cgi::parse_record(bytes.data(), bytes.size(), &record);
    REQUIRE(result.status == co::cgi::ParseStatus::record);
    records.push_back(ParsedRecord{record.type, record.request_id, std::string(record.content)});
    bytes.remove_prefix(result.consumed);
  }
  return records;
}

inline std::uint8_t type_of(co::cgi::RecordType type) { return static_cast<std::uint8_t>(type); }

}  // namespace cofcgi_test
