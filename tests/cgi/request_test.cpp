// Request over a hand-built RequestState: CGI params, headers, query, form, cookies, the
// body read in pieces as it arrives, and the ways a body read ends (end, too large, aborted).
#include "cofcgi/cgi/request.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "leak_check.h"
#include "unit_test_util.h"

using co::cgi::BodyTooLarge;
using co::cgi::Request;
using co::cgi::RequestAborted;
using co::cgi::detail::RequestPhase;
using cofcgi_test::UnitRequest;

TEST_CASE("request: param and param_or read the CGI params in arrival order") {
  UnitRequest r;
  r.set_params({{"REQUEST_METHOD", "POST"}, {"EMPTY", ""}, {"DUP", "first"}, {"DUP", "second"}});
  Request req(&r.state);
  CHECK(req.param("REQUEST_METHOD") == "POST");
  CHECK(req.param("EMPTY") == "");  // present and empty is not absent
  CHECK(req.param("EMPTY").has_value());
  CHECK_FALSE(req.param("MISSING").has_value());
  CHECK_FALSE(req.param("request_method").has_value());  // CGI names are case-sensitive
  CHECK(req.param("DUP") == "first");
  CHECK(req.param_or("MISSING", "fallback") == "fallback");
  CHECK(req.param_or("EMPTY", "fallback") == "");
  REQUIRE(req.params().size() == 4);
  CHECK(req.params()[3].second == "second");
  CHECK(req.id() == UnitRequest::kId);
}

TEST_CASE("request: method, uri, path (query stripped, SCRIPT_NAME fallback) and friends") {
  SUBCASE("REQUEST_URI") {
    UnitRequest r;
    r.set_params({{"REQUEST_METHOD", "GET"},
                  {"REQUEST_URI", "/users/42?x=1&y=2"},
                  {"SCRIPT_NAME", "/index.fcgi"},
                  {"PATH_INFO", "/extra"},
                  {"QUERY_STRING", "x=1&y=2"},
                  {"REMOTE_ADDR", "10.0.0.1"}});
    Request req(&r.state);
    CHECK(req.method() == "GET");
    CHECK(req.uri() == "/users/42?x=1&y=2");
    CHECK(req.path() == "/users/42");
    CHECK(req.script_name() == "/index.fcgi");
    CHECK(req.path_info() == "/extra");
    CHECK(req.query_string() == "x=1&y=2");
    CHECK(req.remote_addr() == "10.0.0.1");
  }
  SUBCASE("no query string") {
    UnitRequest r;
    r.set_params({{"REQUEST_URI", "/plain"}});
    CHECK(Request(&r.state).path() == "/plain");
  }
  SUBCASE("SCRIPT_NAME when there is no REQUEST_URI") {
    UnitRequest r;
    r.set_params({{"SCRIPT_NAME", "/app.fcgi"}});
    Request req(&r.state);
    CHECK(req.uri() == "");
    CHECK(req.path() == "/app.fcgi");
  }
  SUBCASE("SCRIPT_NAME when REQUEST_URI is empty") {
    UnitRequest r;
    r.set_params({{"REQUEST_URI", ""}, {"SCRIPT_NAME", "/app.fcgi"}});
    CHECK(Request(&r.state).path() == "/app.fcgi");
  }
  SUBCASE("nothing at all") {
    UnitRequest r;
    Request req(&r.state);
    CHECK(req.method() == "");
    CHECK(req.path() == "");
    CHECK(req.params().empty());
  }
}

TEST_CASE("request: header maps HTTP names to CGI params") {
  UnitRequest r;
  r.set_params({{"CONTENT_TYPE", "text/plain"},
                {"CONTENT_LENGTH", "12"},
                {"HTTP_X_FOO", "bar"},
                {"HTTP_USER_AGENT", "curl/8"},
                {"HTTP_ACCEPT", "*/*"}});
  Request req(&r.state);
  CHECK(req.header("Content-Type") == "text/plain");
  CHECK(req.header("content-type") == "text/plain");
  CHECK(req.header("Content-Length") == "12");
  CHECK(req.header("content-length") == "12");
  CHECK(req.header("X-Foo") == "bar");
  CHECK(req.header("x-foo") == "bar");
  CHECK(req.header("X-FOO") == "bar");
  CHECK(req.header("User-Agent") == "curl/8");
  CHECK(req.header("Accept") == "*/*");
  CHECK_FALSE(req.header("X-Missing").has_value());
  CHECK_FALSE(req.header("Foo").has_value());  // HTTP_X_FOO is X-Foo, not Foo
}

TEST_CASE("request: query decodes values and keys") {
  UnitRequest r;
  r.set_params({{"QUERY_STRING",
                 "a=1&plus=x+y&hex=%41%62%2f&bad=%zz%4&tail=%&%6Bey=v&flag&eq=a=b&empty=&"
                 "sp%20ace=ok&a=2&utf=%C3%A9"}});
  Request req(&r.state);
  CHECK(req.query("a") == "1");  // the first one wins
  CHECK(req.query("plus") == "x y");
  CHECK(req.query("hex") == "Ab/");
  CHECK(req.query("bad") == "%zz%4");  // invalid escapes stay as they are
  CHECK(req.query("tail") == "%");
  CHECK(req.query("key") == "v");  // keys are decoded too
  CHECK_FALSE(req.query("%6Bey").has_value());
  CHECK(req.query("flag") == "");  // present without '='
  CHECK(req.query("eq") == "a=b");
  CHECK(req.query("empty") == "");
  CHECK(req.query("sp ace") == "ok");
  CHECK(req.query("utf") == "\xC3\xA9");
  CHECK_FALSE(req.query("missing").has_value());
  CHECK_FALSE(req.query("").has_value());

  UnitRequest none;
  CHECK_FALSE(Request(&none.state).query("a").has_value());
}

TEST_CASE("request: url_decode and html_escape") {
  CHECK(co::cgi::url_decode("a+b%20c") == "a b c");
  CHECK(co::cgi::url_decode("a+b", false) == "a+b");
  CHECK(co::cgi::url_decode("%41") == "A");
  CHECK(co::cgi::url_decode("%4") == "%4");
  CHECK(co::cgi::url_decode("%") == "%");
  CHECK(co::cgi::url_decode("%G1") == "%G1");
  CHECK(co::cgi::url_decode("%00") == std::string(1, '\0'));
  CHECK(co::cgi::html_escape("<a href=\"x\">'&'</a>") ==
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST_CASE("request: form reads only application/x-www-form-urlencoded bodies") {
  cofcgi_test::LeakCheck leaks;
  SUBCASE("urlencoded, with a charset") {
    UnitRequest r;
    r.set_params({{"CONTENT_TYPE", "application/x-www-form-urlencoded; charset=UTF-8"}});
    r.state.body.append("name=J%C3%B6rg+M&x=1");
    r.state.body.end();
    Request req(&r.state);
    co::go([&] {
      CHECK(req.form("name") == "J\xC3\xB6rg M");
      CHECK(req.form("x") == "1");
      CHECK_FALSE(req.form("y").has_value());
      CHECK(req.body() == "name=J%C3%B6rg+M&x=1");  // form() read it through body()
    });
    co::run();
  }
  SUBCASE("other types and no type") {
    for (const std::string_view type : {"multipart/form-data; boundary=x", "text/plain", ""}) {
      UnitRequest r;
      if (!type.empty()) r.set_params({{"CONTENT_TYPE", type}});
      r.state.body.append("name=x");
      r.state.body.end();
      Request req(&r.state);
      co::go([&] { CHECK_FALSE(req.form("name").has_value()); });
      co::run();
      CHECK(r.budget.held() == 6);  // form() did not touch the body
    }
  }
}

TEST_CASE("request: cookie") {
  UnitRequest r;
  r.set_params({{"HTTP_COOKIE", "a=1; session=abc%20def;c=3;  d=4; flag; ab=5; e=x=y"}});
  Request req(&r.state);
  CHECK(req.cookie("a") == "1");
  CHECK(req.cookie("session") == "abc%20def");  // cookies are not url-decoded
  CHECK(req.cookie("c") == "3");
  CHECK(req.cookie("d") == "4");
  CHECK(req.cookie("flag") == "");
  CHECK(req.cookie("ab") == "5");
  CHECK(req.cookie("e") == "x=y");
  CHECK_FALSE(req.cookie("b").has_value());
  CHECK_FALSE(req.cookie("missing").has_value());

  UnitRequest none;
  CHECK_FALSE(Request(&none.state).cookie("a").has_value());
}

TEST_CASE("request: read_body in pieces as another coroutine appends") {
  cofcgi_test::LeakCheck leaks;
  UnitRequest r;
  Request req(&r.state);
  std::vector<std::string> log;
  std::string got;
  co::go([&] {
    char buf[4];
    for (;;) {
      const std::size_t n = req.read_body(buf, sizeof buf);
      log.push_back("read " + std::string(buf, n));
      if (n == 0) break;
      got.append(buf, n);
    }
  });
  co::go([&] {
    log.push_back("append hello");
    r.state.body.append("hello");
    co::yield();
    log.push_back("append world");
    r.state.body.append(" world");
    co::yield();
    log.push_back("end");
    r.state.body.end();
  });
  co::run();
  CHECK(got == "hello world");
  // The reader parked at first, got what was there in buffer-sized pieces, parked again.
  const std::vector<std::string> expected = {"append hello", "read hell", "read o", "append world",
                                             "read  wor",    "read ld",   "end",    "read "};
  CHECK(log == expected);
  CHECK(r.budget.held() == 0);
  CHECK(r.process_total == 0);
}

TEST_CASE("request: body() reads the whole body once") {
  cofcgi_test::LeakCheck leaks;
  UnitRequest r;
  Request req(&r.state);
  const std::string big(100 * 1024, 'b');  // more than body()'s 16 KiB chunk
  co::go([&] {
    const std::string& all = req.body();
    CHECK(all.size() == big.size() + 3);
    CHECK(all.substr(0, 3) == "abc");
    const std::string& again = req.body();
    CHECK(&again == &all);
    char c;
    CHECK(req.read_body(&c, 1) == 0);  // consumed
  });
  co::go([&] {
    r.state.body.append("abc");
    co::yield();
    r.state.body.append(big);
    co::yield();
    r.state.body.end();
  });
  co::run();
  CHECK(r.budget.held() == 0);
}

TEST_CASE("request: BodyTooLarge past max_body") {
  cofcgi_test::LeakCheck leaks;
  SUBCASE("read_body") {
    UnitRequest r(10);
    Request req(&r.state);
    bool threw = false;
    co::go([&] {
      char buf[64];
      CHECK(req.read_body(buf, 4) == 4);  // what arrived under the limit is readable
      CHECK(req.read_body(buf, sizeof buf) == 6);
      try {
        req.read_body(buf, sizeof buf);  // parks, then the limit is passed
      } catch (const BodyTooLarge&) {
        threw = true;
      }
    });
    co::go([&] {
      r.state.body.append("0123456789");  // exactly max_body: fine
      co::yield();
      CHECK(r.state.body.state() == co::cgi::detail::BodyStream::State::receiving);
      r.state.body.append("x");
    });
    co::run();
    CHECK(threw);
    CHECK(r.state.body.state() == co::cgi::detail::BodyStream::State::over_limit);
    CHECK(r.budget.held() == 0);  // the dropped bytes went back to the budget
    CHECK(r.process_total == 0);
  }
  SUBCASE("body") {
    UnitRequest r(10);
    r.state.body.append(std::string(11, 'x'));
    Request req(&r.state);
    co::go([&] { CHECK_THROWS_AS(req.body(), BodyTooLarge); });
    co::run();
  }
}

TEST_CASE("request: RequestAborted once the body is abandoned") {
  cofcgi_test::LeakCheck leaks;
  SUBCASE("a parked reader wakes with RequestAborted") {
    UnitRequest r;
    r.state.move_to(RequestPhase::running);
    Request req(&r.state);
    bool threw = false;
    co::go([&] {
      char buf[8];
      try {
        req.read_body(buf, sizeof buf);
      } catch (const RequestAborted&) {
        threw = true;
      }
    });
    co::go([&] {
      r.state.body.append("unread");
      r.state.move_to(RequestPhase::aborted);
      r.state.body.abandon();
    });
    co::run();
    CHECK(threw);
    CHECK(req.aborted());
    CHECK(r.budget.held() == 0);
  }
  SUBCASE("bytes already there are not handed out after the abandon") {
    UnitRequest r;
    r.state.body.append("abc");
    r.state.body.end();
    r.state.body.abandon();
    Request req(&r.state);
    char buf[8];
    CHECK_THROWS_AS(req.read_body(buf, sizeof buf), RequestAborted);
    CHECK_THROWS_AS(req.body(), RequestAborted);
  }
}

TEST_CASE("request: route_param") {
  UnitRequest r;
  Request req(&r.state);
  CHECK_FALSE(req.route_param("id").has_value());
  req.set_route_params({{"id", "42"}, {"rest", "a/b"}, {"empty", ""}});
  CHECK(req.route_param("id") == "42");
  CHECK(req.route_param("rest") == "a/b");
  CHECK(req.route_param("empty") == "");
  CHECK_FALSE(req.route_param("ID").has_value());
  req.set_route_params({});
  CHECK_FALSE(req.route_param("id").has_value());
}

TEST_CASE("request: aborted() follows the request's phase") {
  UnitRequest r;
  Request req(&r.state);
  CHECK_FALSE(req.aborted());
  r.state.move_to(RequestPhase::running);
  CHECK_FALSE(req.aborted());
  r.state.move_to(RequestPhase::aborted);
  CHECK(req.aborted());
}
