// Protocol tokens compared the way the RFCs say: header names and media types
// case-insensitively in ASCII letters only, method names exactly. Each case failed before
// cgi/src/ascii.h (found by the unit tests).
#include <doctest/doctest.h>

#include <string>

#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/response.h"
#include "cofcgi/cgi/router.h"
#include "unit_test_util.h"

using co::cgi::Request;
using co::cgi::Response;
using co::cgi::detail::RequestPhase;
using cofcgi_test::UnitRequest;

namespace {

std::string stdout_of(const std::string& records) {
  std::string stream;
  for (const auto& record : cofcgi_test::parse_records(records)) {
    if (record.type == cofcgi_test::type_of(co::cgi::RecordType::stdout_stream)) {
      stream += record.content;
    }
  }
  return stream;
}

}  // namespace

// cgi/src/request.cpp:59-60 maps only "Content-Type"/"content-type" (and the Content-Length
// pair) to CONTENT_TYPE; any other spelling becomes HTTP_CONTENT_TYPE, which RFC 3875 4.1.18
// says a server should not create. Every other header name is matched case-insensitively.
TEST_CASE("request: header() Content-Type/Content-Length in any letter case") {
  UnitRequest r;
  r.set_params({{"CONTENT_TYPE", "text/plain"}, {"CONTENT_LENGTH", "12"}});
  Request req(&r.state);
  CHECK(req.header("Content-type") == "text/plain");
  CHECK(req.header("CONTENT-TYPE") == "text/plain");
  CHECK(req.header("content-Length") == "12");
}

// cgi/src/response.cpp:23 compares names with (x | 0x20) == (y | 0x20), which folds more
// than letters: '^' (0x5e) and '~' (0x7e), both valid in a header name (RFC 9110 tchar), are
// "the same", so set_header("X-A~") removes "X-A^".
TEST_CASE("response: set_header folds only letters") {
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  Response res(&r.state);
  res.set_header("X-A^", "caret");
  res.set_header("X-A~", "tilde");
  res.finish();
  const std::string stream = stdout_of(r.sink.out);
  CHECK(stream.find("X-A^: caret\r\n") != std::string::npos);
  CHECK(stream.find("X-A~: tilde\r\n") != std::string::npos);
}

// cgi/src/router.cpp:75 dedups Allow with allow.find(route.method), a substring search: a
// method that is part of one listed before it is left out (LOCK after UNLOCK, PATCH after
// PROPPATCH).
TEST_CASE("router: Allow lists a method contained in another one") {
  co::cgi::Router router;
  auto ok = [](Request&, Response& res) { res.write("ok"); };
  router.route("UNLOCK", "/doc", ok);
  router.route("LOCK", "/doc", ok);
  UnitRequest r;
  r.set_params({{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/doc"}});
  r.state.move_to(RequestPhase::running);
  Request req(&r.state);
  Response res(&r.state);
  router(req, res);
  CHECK(res.status() == 405);
  res.finish();
  CHECK(stdout_of(r.sink.out).find("Allow: UNLOCK, LOCK\r\n") != std::string::npos);
}
