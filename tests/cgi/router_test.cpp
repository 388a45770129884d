// Router over hand-built requests: exact, {param} and {rest...} patterns, 404, 405 with
// Allow, HEAD served by GET routes, the fallback.
#include "cofcgi/cgi/router.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "unit_test_util.h"

using co::cgi::Request;
using co::cgi::Response;
using co::cgi::Router;
using co::cgi::detail::RequestPhase;
using cofcgi_test::UnitRequest;

namespace {

// Dispatched: one request through a router, what ran and what it answered.
struct Dispatched {
  std::string ran;  // the handler's tag, "" when none ran
  std::string params;
  int status = 0;
  std::string head;
  std::string body;
};

Dispatched dispatch(const Router& router, std::string_view method, std::string_view uri) {
  UnitRequest r;
  r.set_params({{"REQUEST_METHOD", method}, {"REQUEST_URI", uri}});
  r.state.move_to(RequestPhase::running);
  Request req(&r.state);
  Response res(&r.state);
  router(req, res);
  Dispatched d;
  d.status = res.status();
  res.finish();
  std::string stream;
  for (const auto& record : cofcgi_test::parse_records(r.sink.out)) {
    if (record.type == cofcgi_test::type_of(co::cgi::RecordType::stdout_stream)) {
      stream += record.content;
    }
  }
  const std::size_t blank = stream.find("\r\n\r\n");
  REQUIRE(blank != std::string::npos);
  d.head = stream.substr(0, blank + 2);
  d.body = stream.substr(blank + 4);
  // The body a handler wrote is "tag|name=value|..."; split it back.
  const std::size_t bar = d.body.find('|');
  if (d.body.rfind("ran:", 0) == 0) {
    d.ran = d.body.substr(4, bar == std::string::npos ? std::string::npos : bar - 4);
    d.params = bar == std::string::npos ? "" : d.body.substr(bar + 1);
  }
  return d;
}

// tagged: a handler writing "ran:<tag>|<route params it sees>".
co::cgi::Handler tagged(std::string tag, std::vector<std::string> names = {}) {
  return [tag = std::move(tag), names = std::move(names)](Request& req, Response& res) {
    std::string out = "ran:" + tag + "|";
    for (const std::string& name : names) {
      const auto value = req.route_param(name);
      out += name + "=" + (value ? std::string(*value) : std::string("<none>")) + ";";
    }
    res.write(out);
  };
}

bool has_line(const std::string& head, std::string_view line) {
  return head.find(std::string(line) + "\r\n") != std::string::npos;
}

}  // namespace

TEST_CASE("router: exact matches") {
  Router router;
  router.get("/", tagged("root"));
  router.get("/hello", tagged("hello"));
  router.get("/hello/world", tagged("hello-world"));
  router.post("/hello", tagged("post-hello"));
  CHECK(dispatch(router, "GET", "/").ran == "root");
  CHECK(dispatch(router, "GET", "/hello").ran == "hello");
  CHECK(dispatch(router, "GET", "/hello?x=1").ran == "hello");  // the query is not the path
  CHECK(dispatch(router, "GET", "/hello/world").ran == "hello-world");
  CHECK(dispatch(router, "POST", "/hello").ran == "post-hello");
  const Dispatched d = dispatch(router, "GET", "/hello");
  CHECK(d.status == 200);
  CHECK(d.params == "");
  CHECK(dispatch(router, "GET", "/hellox").status == 404);
  CHECK(dispatch(router, "GET", "/hell").status == 404);
  CHECK(dispatch(router, "GET", "/hello/world/more").status == 404);
  CHECK(dispatch(router, "GET", "/Hello").status == 404);  // paths are case-sensitive
}

TEST_CASE("router: the first matching route wins") {
  Router router;
  router.get("/a/{x}", tagged("param"));
  router.get("/a/b", tagged("exact"));
  CHECK(dispatch(router, "GET", "/a/b").ran == "param");
}

TEST_CASE("router: {param} segments") {
  Router router;
  router.get("/users/{id}", tagged("user", {"id"}));
  router.get("/users/{id}/posts/{post}", tagged("post", {"id", "post"}));
  Dispatched d = dispatch(router, "GET", "/users/42");
  CHECK(d.ran == "user");
  CHECK(d.params == "id=42;");
  d = dispatch(router, "GET", "/users/42/posts/7?sort=asc");
  CHECK(d.ran == "post");
  CHECK(d.params == "id=42;post=7;");
  d = dispatch(router, "GET", "/users/a%20b+c");  // %XX decoded, '+' kept in a path
  CHECK(d.params == "id=a b+c;");
  CHECK(dispatch(router, "GET", "/users").status == 404);
  CHECK(dispatch(router, "GET", "/users/42/posts").status == 404);
  CHECK(dispatch(router, "GET", "/users/42/extra").status == 404);
}

TEST_CASE("router: {rest...} takes the rest of the path") {
  Router router;
  router.get("/static/{path...}", tagged("static", {"path"}));
  Dispatched d = dispatch(router, "GET", "/static/css/site.css");
  CHECK(d.ran == "static");
  CHECK(d.params == "path=css/site.css;");
  d = dispatch(router, "GET", "/static/a%2Fb/c%20d");
  CHECK(d.params == "path=a/b/c d;");
  d = dispatch(router, "GET", "/static/one");
  CHECK(d.params == "path=one;");
  d = dispatch(router, "GET", "/static");  // the rest may be empty
  CHECK(d.ran == "static");
  CHECK(d.params == "path=;");
  CHECK(dispatch(router, "GET", "/other/css").status == 404);
}

TEST_CASE("router: 404 when no pattern matches") {
  Router router;
  router.get("/a", tagged("a"));
  const Dispatched d = dispatch(router, "GET", "/b");
  CHECK(d.ran == "");
  CHECK(d.status == 404);
  CHECK(has_line(d.head, "Status: 404 Not Found"));
  CHECK(d.body == "Not Found\n");

  Router empty;
  CHECK(dispatch(empty, "GET", "/").status == 404);
}

TEST_CASE("router: 405 with Allow when only the method differs") {
  Router router;
  router.get("/thing", tagged("get"));
  router.post("/thing", tagged("post"));
  router.route("PUT", "/thing/{id}", tagged("put"));
  router.route("DELETE", "/thing", tagged("delete"));
  router.get("/thing", tagged("get-again"));  // listed once
  const Dispatched d = dispatch(router, "PATCH", "/thing");
  CHECK(d.ran == "");
  CHECK(d.status == 405);
  CHECK(has_line(d.head, "Status: 405 Method Not Allowed"));
  CHECK(has_line(d.head, "Allow: GET, POST, DELETE"));
  CHECK(d.body == "Method Not Allowed\n");
  const Dispatched put = dispatch(router, "GET", "/thing/1");
  CHECK(put.status == 405);
  CHECK(has_line(put.head, "Allow: PUT"));
}

TEST_CASE("router: HEAD is served by GET routes") {
  Router router;
  router.get("/page", tagged("get"));
  router.post("/form", tagged("post"));
  CHECK(dispatch(router, "HEAD", "/page").ran == "get");
  const Dispatched d = dispatch(router, "HEAD", "/form");
  CHECK(d.status == 405);
  CHECK(has_line(d.head, "Allow: POST"));

  Router explicit_head;
  explicit_head.route("HEAD", "/page", tagged("head"));
  explicit_head.get("/page", tagged("get"));
  CHECK(dispatch(explicit_head, "HEAD", "/page").ran == "head");
  CHECK(dispatch(explicit_head, "GET", "/page").ran == "get");
}

TEST_CASE("router: fallback answers what no route takes, instead of 404 and 405") {
  Router router;
  router.get("/known", tagged("known"));
  router.fallback(tagged("fallback"));
  CHECK(dispatch(router, "GET", "/known").ran == "known");
  const Dispatched unknown = dispatch(router, "GET", "/unknown");
  CHECK(unknown.ran == "fallback");
  CHECK(unknown.status == 200);
  const Dispatched wrong_method = dispatch(router, "POST", "/known");
  CHECK(wrong_method.ran == "fallback");
  CHECK(wrong_method.status == 200);
}

TEST_CASE("router: route params of a request are the matched route's only") {
  Router router;
  router.post("/a/{x}", tagged("post", {"x"}));
  router.get("/{y}/{z}", tagged("get", {"x", "y", "z"}));
  const Dispatched d = dispatch(router, "GET", "/a/1");
  CHECK(d.ran == "get");
  CHECK(d.params == "x=<none>;y=a;z=1;");
}
