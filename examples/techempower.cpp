// techempower: the six test types of the TechEmpower Framework Benchmarks (TFB) on TFB's
// hello_world schema (examples/techempower_schema.sql), written as plain synchronous
// handlers: each request's coroutine parks while MariaDB answers.
//
//   techempower --listen 127.0.0.1:9000 --threads 2 --mysql-host 127.0.0.1 --mysql-port 3306
//     --mysql-user benchmarkdbuser --mysql-password benchmarkdbpass --mysql-db hello_world
//     [--pool N] (or --mysql-socket PATH)
//
//   /json                {"message":"Hello, World!"}
//   /plaintext           Hello, World!
//   /db                  one random world: {"id":N,"randomNumber":M}
//   /queries?queries=N   N random worlds, one SELECT each
//   /fortunes            the fortune table plus one added at request time, sorted, as HTML
//   /updates?queries=N   N random worlds selected one by one, given new random numbers,
//                        written back in one UPDATE
//
// TFB's rules (its toolset/test_types and verifications.py): N is clamped to 1..500 and
// anything that is not an integer counts as 1; ids and new numbers are random in 1..10000;
// nothing is cached. Date and Server headers come from the web server in front (nginx).
// A database that cannot be reached gives 503 with a JSON error; the pool reconnects by
// itself once it is back.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/cgi/html.h"
#include "cofcgi/cgi/json.h"
#include "cofcgi/cgi/router.h"
#include "cofcgi/cgi/server.h"
#include "mysql_args.h"
#include "pool_status.h"
#include "techempower_db.h"

namespace {

using co::cgi::JsonWriter;
using co::cgi::Request;
using co::cgi::Response;
using techempower::Fortune;
using techempower::World;

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kHtml = "text/html; charset=utf-8";
constexpr int kMaxQueries = 500;
constexpr int kWorldRows = 10000;

// random_id is uniform in 1..10000 (ids and new randomNumbers alike).
std::int32_t random_id() {
  thread_local std::minstd_rand engine{std::random_device{}()};
  thread_local std::uniform_int_distribution<std::int32_t> ids(1, kWorldRows);
  return ids(engine);
}

// queries_count reads ?queries= as TFB's verifier does (Python's int(), then clamped): an
// integer of any length with an optional sign, clamped to 1..500; anything else (absent,
// empty, "foo", "5x") is 1.
int queries_count(const Request& request) {
  const std::optional<std::string> raw = request.query("queries");
  if (!raw) return 1;
  std::string_view s = *raw;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  const bool negative = !s.empty() && s.front() == '-';
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return 1;
  if (negative) return 1;
  s.remove_prefix(std::min(s.find_first_not_of('0'), s.size()));
  if (s.size() > 3) return kMaxQueries;
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return std::clamp(n, 1, kMaxQueries);
}

void send_json(Response& response, const std::string& body) {
  response.set_content_type(kJson);
  response.write(body);
}

void write_world(JsonWriter& json, const World& world) {
  json.begin_object().key("id").value(world.id).key("randomNumber").value(world.random_number);
  json.end_object();
}

std::string worlds_json(const std::vector<World>& worlds) {
  std::string body;
  body.reserve(32 * worlds.size() + 2);
  JsonWriter json(body);
  json.begin_array();
  for (const World& world : worlds) write_world(json, world);
  json.end_array();
  return body;
}

std::vector<World> random_worlds(co::mysql::Connection& connection, int count) {
  std::vector<World> worlds;
  worlds.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i)
    worlds.push_back(techempower::find_world(connection, random_id()));
  return worlds;
}

// give_new_numbers sets a new random number on each world; a world drawn twice gets the
// same number both times, so the answer matches what the one UPDATE writes.
void give_new_numbers(std::vector<World>& worlds) {
  std::unordered_map<std::int32_t, std::int32_t> chosen;
  chosen.reserve(worlds.size());
  for (World& world : worlds)
    world.random_number = chosen.try_emplace(world.id, random_id()).first->second;
}

std::string fortunes_html(std::vector<Fortune> fortunes) {
  fortunes.push_back({0, "Additional fortune added at request time."});
  std::sort(fortunes.begin(), fortunes.end(),
            [](const Fortune& a, const Fortune& b) { return a.message < b.message; });
  std::string page =
      "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
      "<tr><th>id</th><th>message</th></tr>";
  for (const Fortune& fortune : fortunes) {
    page += "<tr><td>";
    page += std::to_string(fortune.id);
    page += "</td><td>";
    co::cgi::append_html_escaped(page, fortune.message);
    page += "</td></tr>";
  }
  page += "</table></body></html>";
  return page;
}

// with_database runs a database handler; when the database fails, the answer is 503 with
// a JSON error (and a log line), not the server's generic 500.
template <typename Handler>
co::cgi::Handler with_database(co::mysql::Pool& pool, Handler handler) {
  return [&pool, handler](Request& request, Response& response) {
    try {
      auto connection = pool.acquire();
      handler(request, response, connection);
    } catch (const co::mysql::Error& e) {
      std::fprintf(stderr, "techempower: %s: %s\n", std::string(request.path()).c_str(), e.what());
      response.set_status(503);
      send_json(response, R"({"error":"database unavailable"})");
    }
  };
}

co::cgi::Router make_router(co::mysql::Pool& pool) {
  co::cgi::Router router;
  router.get("/plaintext", [](Request&, Response& response) {
    response.set_content_type("text/plain");
    response.write("Hello, World!");
  });
  router.get("/json", [](Request&, Response& response) {
    std::string body;
    JsonWriter(body).begin_object().key("message").value("Hello, World!").end_object();
    send_json(response, body);
  });
  router.get("/db", with_database(pool, [](Request&, Response& response, auto& connection) {
               std::string body;
               JsonWriter json(body);
               write_world(json, techempower::find_world(connection, random_id()));
               send_json(response, body);
             }));
  router.get("/queries",
             with_database(pool, [](Request& request, Response& response, auto& connection) {
               send_json(response, worlds_json(random_worlds(connection, queries_count(request))));
             }));
  router.get("/updates",
             with_database(pool, [](Request& request, Response& response, auto& connection) {
               std::vector<World> worlds = random_worlds(connection, queries_count(request));
               give_new_numbers(worlds);
               techempower::update_worlds(connection, worlds);
               send_json(response, worlds_json(worlds));
             }));
  router.get("/fortunes", with_database(pool, [](Request&, Response& response, auto& connection) {
               const std::string page = fortunes_html(techempower::all_fortunes(connection));
               response.set_content_type(kHtml);
               response.write(page);
             }));
  return router;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    // The option table: --mysql-* and --pool are rows like the server's, so a --config file
    // ([mysql] table) sets them too.
    co::mysql::Config config = examples::mysql_defaults();
    co::cgi::AppOptions app;
    examples::add_mysql_options(app, config);
    const co::cgi::ServerOptions options = co::cgi::parse_server_args(argc, argv, app);
    // The handlers run plain statements only: the pool keeps the session (and its prepared
    // statements) from one lease to the next (one round trip per request), and would still
    // reset it after a lease that changed it.
    config.reset_only_when_changed = true;
    // One pool for the process (--pool N connections in all), shared by the server threads.
    co::mysql::Pool pool(config);
    const co::cgi::Router router = make_router(pool);
    co::cgi::Server server(
        options, [&router](Request& request, Response& response) { router(request, response); });
    examples::add_pool_status(server, pool);
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "techempower: %s\n", e.what());
    return 2;
  }
}
