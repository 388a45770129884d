// connection_seeds: the seeds of connection_fuzz (make_seeds writes them into
// seeds/connection/), whole FastCGI conversations built like tests/cgi/cgi_test_util.cpp's
// whole_request, each behind the input prefix connection_fuzz.cpp reads:
// [b] [b % 16 piece sizes], b's high bits choosing the limits, no-yield and drain.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cofcgi/cgi/record.h"

namespace connection_seeds {

using Pairs = std::vector<std::pair<std::string, std::string>>;
using co::cgi::RecordType;

inline std::string record(std::uint8_t type, std::uint16_t id, std::string_view content) {
  char header[co::cgi::kHeaderSize];
  const std::uint8_t padding = co::cgi::padding_for(content.size());
  co::cgi::write_header(header, static_cast<RecordType>(type), id,
                        static_cast<std::uint16_t>(content.size()), padding);
  std::string r(header, sizeof header);
  r.append(content);
  r.append(padding, '\0');
  return r;
}
inline std::string record(RecordType type, std::uint16_t id, std::string_view content) {
  return record(static_cast<std::uint8_t>(type), id, content);
}

inline std::string begin(std::uint16_t id, bool keep_conn, std::uint16_t role = 1) {
  const char body[8] = {static_cast<char>(role >> 8),
                        static_cast<char>(role & 0xff),
                        static_cast<char>(keep_conn ? 1 : 0),
                        0,
                        0,
                        0,
                        0,
                        0};
  return record(RecordType::begin_request, id, std::string_view(body, 8));
}

inline std::string encode_pairs(const Pairs& pairs) {
  std::string out;
  auto length = [&](std::size_t n) {
    if (n < 128) {
      out.push_back(static_cast<char>(n));
    } else {
      out.push_back(static_cast<char>(0x80 | ((n >> 24) & 0x7f)));
      out.push_back(static_cast<char>((n >> 16) & 0xff));
      out.push_back(static_cast<char>((n >> 8) & 0xff));
      out.push_back(static_cast<char>(n & 0xff));
    }
  };
  for (const auto& [name, value] : pairs) {
    length(name.size());
    length(value.size());
    out += name;
    out += value;
  }
  return out;
}

// stream: `data` in records of at most `chunk` bytes, then the empty record that ends it.
inline std::string stream(RecordType type, std::uint16_t id, std::string_view data,
                          std::size_t chunk = 1000, bool end = true) {
  std::string out;
  while (!data.empty()) {
    const std::size_t n = std::min(chunk, data.size());
    out += record(type, id, data.substr(0, n));
    data.remove_prefix(n);
  }
  if (end) out += record(type, id, {});
  return out;
}

inline Pairs params(std::string_view script, std::string_view method = "GET",
                    long long content_length = -1) {
  Pairs p = {{"REQUEST_METHOD", std::string(method)},
             {"REQUEST_URI", "/fuzz?a=1"},
             {"QUERY_STRING", "a=1"},
             {"X", std::string(script)}};
  if (content_length >= 0) p.emplace_back("CONTENT_LENGTH", std::to_string(content_length));
  return p;
}

inline std::string whole_request(std::uint16_t id, const Pairs& pairs, std::string_view body,
                                 bool keep_conn) {
  return begin(id, keep_conn) + stream(RecordType::params, id, encode_pairs(pairs)) +
         stream(RecordType::stdin_stream, id, body);
}

inline std::string post(std::uint16_t id, std::string_view script, std::string_view body,
                        bool keep_conn) {
  return whole_request(id, params(script, "POST", static_cast<long long>(body.size())), body,
                       keep_conn);
}

// The seeds: (name, input).
inline std::vector<std::pair<std::string, std::string>> all() {
  using RT = RecordType;
  const std::string whole(1, '\0');                         // b = 0: one write, limits 0, yields
  const std::string uneven("\x05\x04\x03\x08\x01\xc8", 6);  // b = 5: five sizes
  const std::string body100(100, 'x');
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](std::string name, const std::string& prefix, const std::string& conversation) {
    out.emplace_back(name, prefix + conversation);
  };
  add("get-echo", whole, whole_request(1, params("e"), "", false));
  add("keep-two-posts", uneven,
      post(1, "rw", "a=1&b=2", true) + post(2, "b", body100, true) + post(3, "e", "", false));
  add("interleaved", uneven,
      begin(1, true) + begin(2, true) +
          stream(RT::params, 1, encode_pairs(params("rw", "POST", 10)), 7) +
          stream(RT::params, 2, encode_pairs(params("bf", "POST", 5)), 1000) +
          stream(RT::stdin_stream, 2, "hello") + stream(RT::stdin_stream, 1, "0123456789", 3));
  add("big-response", uneven, whole_request(1, params("WWf"), "", false));
  add("flush-then-write", whole, post(1, "fwWe", "abc", true) + post(2, "Wfw", "", false));
  const Pairs values = {
      {"FCGI_MAX_CONNS", ""}, {"FCGI_MAX_REQS", ""}, {"FCGI_MPXS_CONNS", ""}, {"OTHER", ""}};
  add("management", whole,
      record(RT::get_values, 0, encode_pairs(values)) + record(20, 0, "zz") + record(0, 3, "") +
          record(RT::begin_request, 0, std::string(8, '\0')) +
          whole_request(1, params("w"), "", false));
  add("abort-running-reuse-id", uneven,
      begin(1, true) + stream(RT::params, 1, encode_pairs(params("r", "POST", 20))) +
          record(RT::stdin_stream, 1, "0123456789") + record(RT::abort_request, 1, "") +
          whole_request(1, params("e"), "", false));
  add("abort-in-params", whole,
      begin(1, true) + record(RT::params, 1, encode_pairs(params("e"))) +
          record(RT::abort_request, 1, "") + record(RT::stdin_stream, 1, "late") +
          whole_request(2, params("w"), "", false));
  add("throws", whole,
      post(1, "t", "", true) + post(2, "hst", "", true) + post(3, "i", "", true) +
          post(4, "Wt", "", false));
  std::string five;
  for (std::uint16_t id = 1; id <= 5; ++id) five += begin(id, true);
  for (std::uint16_t id = 1; id <= 5; ++id) {
    five += stream(RT::params, id, encode_pairs(params("bw", "POST", 3)));
    five += stream(RT::stdin_stream, id, "abc");
  }
  add("cant-mpx", whole, five);
  add("limits", uneven,
      whole_request(1, params("b", "POST", 999999), "", true) +
          whole_request(2, params(std::string(600, 'e')), "", true) +
          post(3, "r", std::string(3000, 'y'), true) + post(4, "b", std::string(3000, 'z'), false));
  add("authorizer", whole,
      begin(1, true, 2) + stream(RT::params, 1, encode_pairs(params("e"))) +
          whole_request(2, params("e"), "", false));
  add("overloaded", std::string(1, '\x10'),
      begin(1, true) + begin(2, true) + begin(3, true) + stream(RT::params, 1, "") +
          stream(RT::params, 2, "") + stream(RT::params, 3, "") + post(4, "e", "", true) +
          post(5, "e", "", false));
  add("large-body", std::string("\x21\xc8", 2),
      post(1, "RRrw", std::string(20000, 'q'), true) +
          post(2, "bf", std::string(9000, 'p'), false));
  add("process-cap", std::string(1, '\x30'),
      post(1, "r", std::string(900, 'a'), true) + post(2, "f", std::string(500, 'b'), false));
  add("drain", std::string(1, '\x80'),
      post(1, "yw", "", true) + post(2, "w", "", true) + post(3, "w", "", false));
  add("bytes-no-yield", std::string("\x41\x01", 2),
      post(1, "ew", "body", true) + post(2, "Rr", "0123456789abcdef", false));
  add("keep-no-stdin-end", whole,
      begin(1, true) + stream(RT::params, 1, encode_pairs(params("w", "POST", 4))) +
          record(RT::stdin_stream, 1, "ab"));
  return out;
}

}  // namespace connection_seeds
