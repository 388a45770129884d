// JsonWriter: compact JSON text appended to a std::string as it is produced, no document
// tree in between. Commas and colons are placed by the writer.
//
//   std::string body;
//   co::cgi::JsonWriter json(body);
//   json.begin_array();
//   for (const World& w : worlds)
//     json.begin_object().key("id").value(w.id).key("randomNumber").value(w.number).end_object();
//   json.end_array();                     // body: [{"id":1,"randomNumber":42},...]
//
// Why our own and not nlohmann-json: a handler's JSON is written once, front to back, and
// never read back; nlohmann builds a tree of heap nodes (a std::map per object) first.
// bench/micro/json_bench measures both on TechEmpower's documents; on this project's loaded
// machine (taskset -c 0, 3 rounds) the writer was 4.6-6.7x faster for the 20-object array
// (0.85 us vs 5.1-5.7 us in the quietest run) and 5-7x for {"message":"Hello, World!"}.
//
// Strings are escaped as RFC 8259 requires (" \ and control characters), and their UTF-8
// is checked: a byte that does not start a well-formed sequence (overlong forms, surrogates
// and code points above U+10FFFF included) becomes U+FFFD, so the output is always valid
// JSON in valid UTF-8. Non-ASCII text is copied as UTF-8, not as \u escapes. A double that
// is NaN or infinite is written as null (JSON has no such numbers).
//
// The writer does not check the structure (a key outside an object, an end without its
// begin): call it in document order. It keeps a reference to `out`, which must outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "cofcgi/runtime/export.h"

namespace co::cgi {

// append_json_string appends `text` to `out` as a quoted, escaped JSON string.
COFCGI_API void append_json_string(std::string& out, std::string_view text);

class COFCGI_API JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // key writes an object member's name; its value follows with value() or begin_*().
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  // Any integer type (not bool, which has its own overload).
  template <typename Integer>
  requires(std::is_integral_v<Integer> &&
           !std::is_same_v<Integer, bool>) JsonWriter& value(Integer number) {
    if constexpr (std::is_signed_v<Integer>) return signed_value(number);
    return unsigned_value(number);
  }
  JsonWriter& value(double number);  // shortest text that reads back as the same double
  JsonWriter& value(bool flag);
  JsonWriter& null();

  std::string& out() { return out_; }

 private:
  JsonWriter& signed_value(std::int64_t number);
  JsonWriter& unsigned_value(std::uint64_t number);
  // before_value writes the comma that separates this value from the previous one.
  void before_value();

  std::string& out_;
  // after_value_: the last thing written was a whole value (or a container's end), so the
  // next value or key in the same container needs a comma first.
  bool after_value_ = false;
};

}  // namespace co::cgi
