// co::cgi::JsonWriter and append_json_string (cgi/include/cofcgi/cgi/json.h).
#include "cofcgi/cgi/json.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

using co::cgi::append_json_string;
using co::cgi::JsonWriter;

namespace {

std::string quoted(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

}  // namespace

TEST_CASE("json: TechEmpower's shapes, compact, commas and colons placed by the writer") {
  std::string out;
  JsonWriter json(out);
  json.begin_object().key("message").value("Hello, World!").end_object();
  CHECK(out == R"({"message":"Hello, World!"})");

  out.clear();
  JsonWriter list(out);
  list.begin_array();
  for (int i = 1; i <= 3; ++i)
    list.begin_object().key("id").value(i).key("randomNumber").value(i * 1000).end_object();
  list.end_array();
  CHECK(out == R"([{"id":1,"randomNumber":1000},{"id":2,"randomNumber":2000},)"
               R"({"id":3,"randomNumber":3000}])");
}

TEST_CASE("json: nesting, empty containers and every value type") {
  std::string out;
  JsonWriter json(out);
  json.begin_object()
      .key("a")
      .begin_array()
      .end_array()
      .key("o")
      .begin_object()
      .end_object()
      .key("n")
      .begin_array()
      .begin_array()
      .value(1)
      .end_array()
      .begin_object()
      .key("x")
      .null()
      .end_object()
      .value(true)
      .value(false)
      .end_array()
      .end_object();
  CHECK(out == R"({"a":[],"o":{},"n":[[1],{"x":null},true,false]})");
}

TEST_CASE("json: integers at their limits, doubles shortest, NaN and infinity as null") {
  std::string out;
  JsonWriter json(out);
  json.begin_array()
      .value(std::numeric_limits<std::int64_t>::min())
      .value(std::numeric_limits<std::uint64_t>::max())
      .value(0)
      .value(-1)
      .value(static_cast<unsigned short>(7))
      .value(0.1)
      .value(-2.5e-300)
      .value(1e21)
      .value(std::numeric_limits<double>::quiet_NaN())
      .value(std::numeric_limits<double>::infinity())
      .end_array();
  CHECK(out == "[-9223372036854775808,18446744073709551615,0,-1,7,0.1,-2.5e-300,1e+21,null,null]");
}

TEST_CASE("json: strings escape quote, backslash and every control character") {
  CHECK(quoted("") == R"("")");
  CHECK(quoted(R"(say "hi" \ bye)") == R"("say \"hi\" \\ bye")");
  CHECK(quoted("\b\f\n\r\t") == R"("\b\f\n\r\t")");
  CHECK(quoted(std::string("\0\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
  CHECK(quoted("\x7f/<>&'") == "\"\x7f/<>&'\"");  // DEL and / need no escape in JSON
  for (int c = 0; c < 0x20; ++c) {
    const std::string s = quoted(std::string(1, static_cast<char>(c)));
    CHECK(s.size() >= 4);
    CHECK(s[1] == '\\');
  }
}

TEST_CASE("json: well-formed UTF-8 is copied, up to 4-byte sequences") {
  const std::string text = "\u00e9 \u30d5\u30ec\u30fc\u30e0 \U0001F600 \U0010FFFF \u2014";
  CHECK(quoted(text) == "\"" + text + "\"");
}

TEST_CASE("json: ill-formed UTF-8 becomes U+FFFD, one per bad byte, the rest is kept") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(quoted("a\xff"
               "b") == "\"a" + fffd + "b\"");
  CHECK(quoted("\xc0\xaf") == "\"" + fffd + fffd + "\"");             // overlong '/'
  CHECK(quoted("\xe0\x80\xaf") == "\"" + fffd + fffd + fffd + "\"");  // overlong, 3 bytes
  CHECK(quoted("\xed\xa0\x80") == "\"" + fffd + fffd + fffd + "\"");  // surrogate D800
  CHECK(quoted("\xf4\x90\x80\x80") == "\"" + fffd + fffd + fffd + fffd + "\"");  // > 10FFFF
  CHECK(quoted("\xe3\x83") == "\"" + fffd + fffd + "\"");                        // cut short
  CHECK(quoted("\x80x") == "\"" + fffd + "x\"");  // a lone continuation byte
  CHECK(quoted("ok\xf0\x9f\x98") == "\"ok" + fffd + fffd + fffd + "\"");
}

TEST_CASE("json: keys are escaped like values and the writer appends to existing text") {
  std::string out = "prefix:";
  JsonWriter json(out);
  json.begin_object().key("a\"b\n").value(std::string("v")).end_object();
  CHECK(out == R"(prefix:{"a\"b\n":"v"})");
  CHECK(&json.out() == &out);
}
