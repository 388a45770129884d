// examples/techempower checked the way TechEmpower's verifier checks an entry
// (toolset/benchmark/test_types/verifications.py, fortune_html_parser.py): the headers every
// response needs, each test type's content type and JSON shape (parsed by nlohmann-json, an
// independent parser), the fortunes page compared after the same normalisation
// fortune_html_parser applies, and, at 512 concurrent clients, that every request really
// ran its queries (the database's Com_select / Com_update / Rows_read / Handler_update
// counters, as TFB's verify_queries_count reads them).
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "techempower_stack.h"

using nlohmann::json;
using techempower_test::TechempowerStack;

namespace {

TechempowerStack& stack() {
  static TechempowerStack instance;
  return instance;
}

// TFB's verify_headers: Server, Date (in RFC 1123 form), Content-Type, and a length.
void check_tfb_headers(const cgi_test::HttpResponse& r, const std::string& type_prefix) {
  CHECK(r.header("Server").has_value());
  REQUIRE(r.header("Date").has_value());
  std::tm tm{};
  const std::string date = *r.header("Date");
  const char* end = strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  CHECK_MESSAGE(end != nullptr, "Date " << date);
  CHECK((r.header("Content-Length") || r.header("Transfer-Encoding")));
  REQUIRE(r.header("Content-Type").has_value());
  CHECK_MESSAGE(r.header("Content-Type")->rfind(type_prefix, 0) == 0,
                "Content-Type " << *r.header("Content-Type"));
}

// TFB's verify_randomnumber_object: exactly the keys id (1..10000) and randomNumber, ints.
void check_world(const json& world) {
  REQUIRE(world.is_object());
  CHECK(world.size() == 2);
  REQUIRE(world.contains("id"));
  REQUIRE(world.contains("randomNumber"));
  CHECK(world["id"].is_number_integer());
  CHECK(world["randomNumber"].is_number_integer());
  CHECK(world["id"].get<int>() >= 1);
  CHECK(world["id"].get<int>() <= 10000);
  CHECK(world["randomNumber"].get<int>() >= 0);
  CHECK(world["randomNumber"].get<int>() <= 10000);
}

void check_world_list(const cgi_test::HttpResponse& r, std::size_t expected_length) {
  REQUIRE(r.status == 200);
  check_tfb_headers(r, "application/json");
  const json list = json::parse(r.body);
  REQUIRE(list.is_array());
  CHECK(list.size() == expected_length);
  for (const json& world : list) check_world(world);
}

// normalize_fortunes does what fortune_html_parser.py does before comparing: tags kept as
// <name>, the doctype lower-cased, character references of ' " < > + / folded to one form,
// and ' " > in text written as &apos; &quot; &gt;.
std::string normalize_fortunes(const std::string& html) {
  std::string out;
  for (std::size_t i = 0; i < html.size();) {
    const char c = html[i];
    if (c == '<') {
      const std::size_t close = html.find('>', i);
      std::string tag = html.substr(i, close - i + 1);
      if (tag.rfind("<!", 0) == 0)
        std::transform(tag.begin(), tag.end(), tag.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      out += tag;
      i = close + 1;
    } else if (c == '&') {
      const std::size_t semi = html.find(';', i);
      const std::string ref = html.substr(i, semi - i + 1);
      if (ref == "&#39;" || ref == "&#039;" || ref == "&#x27;")
        out += "&apos;";
      else if (ref == "&#34;" || ref == "&#034;" || ref == "&#x22;")
        out += "&quot;";
      else if (ref == "&#62;" || ref == "&#x3E;")
        out += "&gt;";
      else if (ref == "&#60;" || ref == "&#x3C;")
        out += "&lt;";
      else if (ref == "&#43;" || ref == "&#x2B;")
        out += "+";
      else if (ref == "&#47;" || ref == "&#x2F;")
        out += "/";
      else
        out += ref;
      i = semi + 1;
    } else {
      if (c == '\'')
        out += "&apos;";
      else if (c == '"')
        out += "&quot;";
      else if (c == '>')
        out += "&gt;";
      else
        out += c;
      ++i;
    }
  }
  return out;
}

// The page TFB's parser accepts, after normalisation: the 12 fortunes of the schema and the
// one added at request time, sorted by message.
const std::string kValidFortunes =
    "<!doctype html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th>"
    "<th>message</th></tr>"
    "<tr><td>11</td><td>&lt;script&gt;alert(&quot;This should not be displayed in a browser "
    "alert box.&quot;);&lt;/script&gt;</td></tr>"
    "<tr><td>4</td><td>A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1</td></tr>"
    "<tr><td>5</td><td>A computer program does what you tell it to do, not what you want it to "
    "do.</td></tr>"
    "<tr><td>2</td><td>A computer scientist is someone who fixes things that aren&apos;t "
    "broken.</td></tr>"
    "<tr><td>8</td><td>A list is only as strong as its weakest link. \u2014 Donald Knuth</td></tr>"
    "<tr><td>0</td><td>Additional fortune added at request time.</td></tr>"
    "<tr><td>3</td><td>After enough decimal places, nobody gives a damn.</td></tr>"
    "<tr><td>7</td><td>Any program that runs right is obsolete.</td></tr>"
    "<tr><td>10</td><td>Computers make very fast, very accurate mistakes.</td></tr>"
    "<tr><td>6</td><td>Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom "
    "Christaensen</td></tr>"
    "<tr><td>9</td><td>Feature: A bug with seniority.</td></tr>"
    "<tr><td>1</td><td>fortune: No such file or directory</td></tr>"
    "<tr><td>12</td><td>\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de"
    "\u30fc\u30af</td></tr>"
    "</table></body></html>";

// concurrent_gets: `clients` coroutines each GET `target` `rounds` times; returns how many
// answers were 200.
int concurrent_gets(int clients, int rounds, const std::string& target) {
  int ok = 0;
  for (int c = 0; c < clients; ++c) {
    co::go([&] {
      for (int r = 0; r < rounds; ++r) {
        try {
          ok += stack().get(target).status == 200;
        } catch (const std::exception& e) {
          MESSAGE("GET " << target << ": " << e.what());
        }
      }
    });
  }
  co::run();
  return ok;
}

long long delta(const std::map<std::string, long long>& before,
                const std::map<std::string, long long>& after, const std::string& name) {
  return after.at(name) - before.at(name);
}

}  // namespace

TEST_CASE("techempower /json: {\"message\":\"Hello, World!\"}, application/json, TFB's headers") {
  const auto r = stack().get("/json");
  REQUIRE(r.status == 200);
  check_tfb_headers(r, "application/json");
  CHECK(r.body == R"({"message":"Hello, World!"})");  // 27 bytes: TFB warns above that
  const json body = json::parse(r.body);
  CHECK(body == json{{"message", "Hello, World!"}});
}

TEST_CASE("techempower /plaintext: Hello, World! as text/plain") {
  const auto r = stack().get("/plaintext");
  REQUIRE(r.status == 200);
  check_tfb_headers(r, "text/plain");
  CHECK(r.body == "Hello, World!");
}

TEST_CASE("techempower /db: one world object, and a different one over requests") {
  std::vector<int> ids;
  for (int i = 0; i < 20; ++i) {
    const auto r = stack().get("/db");
    REQUIRE(r.status == 200);
    check_tfb_headers(r, "application/json");
    const json world = json::parse(r.body);
    check_world(world);
    ids.push_back(world["id"].get<int>());
  }
  std::sort(ids.begin(), ids.end());
  CHECK(std::unique(ids.begin(), ids.end()) - ids.begin() > 10);  // random, not cached
}

TEST_CASE("techempower /db answers what the table holds") {
  for (int i = 0; i < 10; ++i) {
    const json world = json::parse(stack().get("/db").body);
    const auto rows = stack().query_rows("SELECT randomNumber FROM hello_world.world WHERE id=" +
                                         std::to_string(world["id"].get<int>()));
    REQUIRE(rows.size() == 1);
    CHECK(std::stoi(rows[0][0]) == world["randomNumber"].get<int>());
  }
}

TEST_CASE("techempower /queries?queries=N: a list of N worlds for N in 1..500") {
  for (int n : {1, 2, 20, 499, 500})
    check_world_list(stack().get("/queries?queries=" + std::to_string(n)), n);
}

TEST_CASE("techempower /updates?queries=N: N worlds, and the table holds their new numbers") {
  const auto r = stack().get("/updates?queries=20");
  check_world_list(r, 20);
  for (const json& world : json::parse(r.body)) {
    const auto rows = stack().query_rows("SELECT randomNumber FROM hello_world.world WHERE id=" +
                                         std::to_string(world["id"].get<int>()));
    CHECK(std::stoi(rows.at(0).at(0)) == world["randomNumber"].get<int>());
  }
  // TFB's verify_updates: a 500-row update changes (nearly) 500 rows.
  const auto before = stack().query_rows("SELECT id, randomNumber FROM hello_world.world");
  check_world_list(stack().get("/updates?queries=500"), 500);
  const auto after = stack().query_rows("SELECT id, randomNumber FROM hello_world.world");
  REQUIRE(before.size() == 10000);
  REQUIRE(after.size() == 10000);
  int changed = 0;
  for (std::size_t i = 0; i < before.size(); ++i) changed += before[i][1] != after[i][1];
  CHECK(changed > 500 * 0.95 * 0.95);  // duplicates among 500 random ids and equal numbers
  CHECK(changed <= 500);
}

TEST_CASE("techempower /fortunes: the page fortune_html_parser accepts, text/html; charset=utf-8") {
  const auto r = stack().get("/fortunes");
  REQUIRE(r.status == 200);
  check_tfb_headers(r, "text/html");
  CHECK(*r.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(normalize_fortunes(r.body) == kValidFortunes);
}

TEST_CASE("techempower: Date is not cached (two requests a second apart differ)") {
  const auto first = stack().get("/json");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const auto second = stack().get("/json");
  CHECK(first.header("Date") != second.header("Date"));
}

TEST_CASE("techempower at 512 concurrent clients: the queries TFB counts really run") {
  constexpr int kClients = 512, kRounds = 2, kRequests = kClients * kRounds;
  constexpr int kQueries = 20;

  auto before = stack().global_status();
  CHECK(concurrent_gets(kClients, kRounds, "/queries?queries=20") == kRequests);
  auto after = stack().global_status();
  // One SELECT per world (no IN list): exactly 20 per request, plus nothing else.
  CHECK(delta(before, after, "Com_select") >= kQueries * kRequests);
  CHECK(delta(before, after, "Com_select") <= kQueries * kRequests + 10);
  CHECK(delta(before, after, "Rows_read") >= 0.99 * kQueries * kRequests);
  CHECK(delta(before, after, "Com_update") == 0);

  before = after;
  CHECK(concurrent_gets(kClients, kRounds, "/updates?queries=20") == kRequests);
  after = stack().global_status();
  CHECK(delta(before, after, "Com_select") >= kQueries * kRequests);
  CHECK(delta(before, after, "Com_select") <= kQueries * kRequests + 10);
  // One batched UPDATE per request, changing (almost) 20 rows: a row drawn twice in one
  // request or given its old number again is not changed.
  CHECK(delta(before, after, "Com_update") == kRequests);
  CHECK(delta(before, after, "Handler_update") >= 0.99 * kQueries * kRequests);

  before = after;
  CHECK(concurrent_gets(kClients, kRounds, "/db") == kRequests);
  after = stack().global_status();
  CHECK(delta(before, after, "Com_select") >= kRequests);
  CHECK(delta(before, after, "Com_select") <= kRequests + 10);

  before = after;
  CHECK(concurrent_gets(kClients, kRounds, "/fortunes") == kRequests);
  after = stack().global_status();
  CHECK(delta(before, after, "Com_select") >= kRequests);
  CHECK(delta(before, after, "Com_select") <= kRequests + 10);
}
