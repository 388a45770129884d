// examples/techempower with the inputs TechEmpower's verifier sends and worse: every
// ?queries= case of verifications.py's verify_query_cases (empty, foo, 0, -5, 501, a number
// past any integer type), a fortune holding every HTML special character and characters
// outside the BMP, and the database killed while requests run (503 with a JSON error, then
// recovery without restarting the app).
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/sleep.h"
#include "techempower_stack.h"

using nlohmann::json;
using techempower_test::TechempowerStack;
using namespace std::chrono_literals;

namespace {

TechempowerStack& stack() {
  static TechempowerStack instance;
  return instance;
}

std::size_t world_count(const cgi_test::HttpResponse& r) {
  REQUIRE(r.status == 200);
  REQUIRE(r.header("Content-Type") == std::optional<std::string>("application/json"));
  const json list = json::parse(r.body);
  REQUIRE(list.is_array());
  for (const json& world : list) {
    CHECK(world.size() == 2);
    CHECK(world.at("id").is_number_integer());
    CHECK(world.at("randomNumber").is_number_integer());
  }
  return list.size();
}

}  // namespace

TEST_CASE("techempower: ?queries= is clamped to 1..500, and what is not a number counts as 1") {
  const std::vector<std::pair<std::string, std::size_t>> cases = {{"", 1},
                                                                  {"foo", 1},
                                                                  {"0", 1},
                                                                  {"-5", 1},
                                                                  {"501", 500},
                                                                  {"1", 1},
                                                                  {"2", 2},
                                                                  {"500", 500},
                                                                  {"20", 20},
                                                                  {"99999999999999999999", 500},
                                                                  {"5x", 1},
                                                                  {"+7", 7},
                                                                  {"007", 7},
                                                                  {"-0", 1},
                                                                  {"%20%209%20", 9},
                                                                  {"1e3", 1},
                                                                  {"0x10", 1},
                                                                  {"--1", 1},
                                                                  {"-99999999999999999999", 1}};
  for (const auto& [value, expected] : cases) {
    for (const char* route : {"/queries", "/updates"}) {
      const std::string target = std::string(route) + "?queries=" + value;
      CAPTURE(target);
      CHECK(world_count(stack().get(target)) == expected);
    }
  }
  CHECK(world_count(stack().get("/queries")) == 1);          // no parameter at all
  CHECK(world_count(stack().get("/queries?queries")) == 1);  // no '='
  CHECK(world_count(stack().get("/updates?other=7")) == 1);  // another parameter
}

TEST_CASE("techempower /fortunes escapes every HTML special character and keeps non-BMP UTF-8") {
  // As root: benchmarkdbuser may only read the fortune table. Inserted through a hex
  // literal, so no quoting is involved on the way in.
  const std::string message = "<b>&amp;\"quoted\" 'single' & a > b</b> \U0001F600 \U0001D11E";
  std::string hex;
  for (unsigned char c : message) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 0xF];
  }
  stack().db().admin_query("INSERT INTO hello_world.fortune (id, message) VALUES (13, CONVERT(X'" +
                           hex + "' USING utf8mb4))");
  const auto r = stack().get("/fortunes");
  REQUIRE(r.status == 200);
  CHECK(*r.header("Content-Type") == "text/html; charset=utf-8");
  const std::string escaped =
      "&lt;b&gt;&amp;amp;&quot;quoted&quot; &#39;single&#39; &amp; a &gt; b&lt;/b&gt; "
      "\U0001F600 \U0001D11E";
  CHECK(r.body.find("<tr><td>13</td><td>" + escaped + "</td></tr>") != std::string::npos);
  // Sorted by message, byte by byte: "<b>" before "<script>" (TFB's id 11), both before
  // "A bad random..." (id 4).
  const std::size_t ours = r.body.find("<td>13</td>");
  const std::size_t script = r.body.find("<td>11</td>");
  const std::size_t bad_random = r.body.find("<td>4</td>");
  CHECK(ours < script);
  CHECK(script < bad_random);
  // Nothing of the message reaches the page unescaped.
  CHECK(r.body.find("<b>") == std::string::npos);
  stack().db().admin_query("DELETE FROM hello_world.fortune WHERE id = 13");
}

TEST_CASE("techempower: the database killed mid-run gives 503 JSON errors, then recovers") {
  TechempowerStack& s = stack();
  REQUIRE(s.get("/db").status == 200);
  const pid_t app_pid = s.app().child->pid();

  // Clients keep requesting every database route while the server is killed (SIGKILL, a
  // crash), stays down for a while, and comes back on the same port.
  struct Tally {
    int ok = 0, unavailable = 0, other = 0, bad_error_body = 0;
    bool stop = false;
  };
  auto tally = std::make_unique<Tally>();
  const std::vector<std::string> targets = {"/db", "/queries?queries=5", "/fortunes",
                                            "/updates?queries=5"};
  for (int c = 0; c < 32; ++c) {
    co::go([&, c] {
      for (int i = 0; !tally->stop; ++i) {
        try {
          const auto r = s.get(targets[(c + i) % targets.size()]);
          if (r.status == 200) {
            ++tally->ok;
          } else if (r.status == 503) {
            ++tally->unavailable;
            const bool json_error =
                r.header("Content-Type") == std::optional<std::string>("application/json") &&
                json::parse(r.body, nullptr, false).contains("error");
            tally->bad_error_body += !json_error;
          } else {
            ++tally->other;
          }
        } catch (const std::exception& e) {
          ++tally->other;
          MESSAGE(e.what());
        }
      }
    });
  }
  co::go([&] {
    co::sleep_for(500ms);
    const int ok_before = tally->ok;
    s.db().kill();
    co::sleep_for(1500ms);
    const int unavailable_while_down = tally->unavailable;
    s.db().start();
    // Recovery: requests succeed again within a few seconds, with no restart of the app.
    const int ok_at_restart = tally->ok;
    for (int i = 0; i < 100 && tally->ok < ok_at_restart + 50; ++i) co::sleep_for(100ms);
    tally->stop = true;
    CHECK(ok_before > 0);
    CHECK(unavailable_while_down > 0);
    CHECK(tally->ok >= ok_at_restart + 50);
  });
  co::run();
  MESSAGE("200: " << tally->ok << ", 503: " << tally->unavailable << ", other: " << tally->other);
  CHECK(tally->other == 0);
  CHECK(tally->bad_error_body == 0);
  CHECK(tally->unavailable > 0);
  CHECK_FALSE(s.app().child->wait_exit(0ms).has_value());  // the same process, still up
  CHECK(s.app().child->pid() == app_pid);
  for (const char* target : {"/db", "/queries?queries=3", "/fortunes", "/updates?queries=3"})
    CHECK(s.get(target).status == 200);
}
