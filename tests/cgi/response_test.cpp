// Response over a hand-built RequestState: status and header checks, what finish() and
// flush() hand the RecordSink (parsed back with parse_record), the wait for the request body
// before the first flush, and what an aborted request still sends (nothing).
#include "cofcgi/cgi/response.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cofcgi/cgi/record.h"
#include "cofcgi/cgi/request.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "leak_check.h"
#include "unit_test_util.h"

using co::cgi::RecordType;
using co::cgi::RequestAborted;
using co::cgi::Response;
using co::cgi::detail::RequestPhase;
using cofcgi_test::ParsedRecord;
using cofcgi_test::type_of;
using cofcgi_test::UnitRequest;

namespace {

// Sent: a sink's bytes taken apart: the STDOUT stream (headers and body), how many STDOUT
// records carried it, whether the stream was ended, and the END_REQUEST.
struct Sent {
  std::string head;  // up to and including the blank line
  std::string body;
  int stdout_records = 0;  // non-empty ones
  bool stdout_ended = false;
  bool end_request = false;
  std::uint32_t app_status = 0;
  std::uint8_t protocol_status = 0xff;
  bool ids_ok = true;
  bool order_ok = true;  // nothing after the empty STDOUT but END_REQUEST, nothing after that
};

Sent take_apart(std::string_view bytes) {
  Sent sent;
  std::string stream;
  for (const ParsedRecord& record : cofcgi_test::parse_records(bytes)) {
    if (record.request_id != UnitRequest::kId) sent.ids_ok = false;
    if (sent.end_request) sent.order_ok = false;
    if (record.type == type_of(RecordType::stdout_stream)) {
      if (sent.stdout_ended) sent.order_ok = false;
      CHECK(record.content.size() <= co::cgi::kMaxContent);
      if (record.content.empty()) {
        sent.stdout_ended = true;
      } else {
        ++sent.stdout_records;
        stream += record.content;
      }
    } else if (record.type == type_of(RecordType::end_request)) {
      REQUIRE(record.content.size() == 8);
      const auto* c = reinterpret_cast<const unsigned char*>(record.content.data());
      sent.app_status = (std::uint32_t{c[0]} << 24) | (std::uint32_t{c[1]} << 16) |
                        (std::uint32_t{c[2]} << 8) | c[3];
      sent.protocol_status = c[4];
      sent.end_request = true;
      if (!sent.stdout_ended) sent.order_ok = false;
    } else {
      FAIL("unexpected record type " << int{record.type});
    }
  }
  const std::size_t blank = stream.find("\r\n\r\n");
  if (blank != std::string::npos) {
    sent.head = stream.substr(0, blank + 4);
    sent.body = stream.substr(blank + 4);
  } else {
    sent.body = stream;
  }
  return sent;
}

// header_lines: the head's lines after the Status line, without CRLF.
std::vector<std::string> header_lines(const std::string& head) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < head.size()) {
    const std::size_t end = head.find("\r\n", at);
    if (end == std::string::npos || end == at) break;
    lines.push_back(head.substr(at, end - at));
    at = end + 2;
  }
  return lines;
}

int count(const std::vector<std::string>& lines, std::string_view prefix) {
  int n = 0;
  for (const std::string& line : lines) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("response: set_status accepts 100..999 only") {
  UnitRequest r;
  Response res(&r.state);
  CHECK(res.status() == 200);
  CHECK_THROWS_AS(res.set_status(99), std::invalid_argument);
  CHECK_THROWS_AS(res.set_status(1000), std::invalid_argument);
  CHECK_THROWS_AS(res.set_status(0), std::invalid_argument);
  CHECK_THROWS_AS(res.set_status(-200), std::invalid_argument);
  CHECK(res.status() == 200);
  res.set_status(100);
  CHECK(res.status() == 100);
  res.set_status(999);
  CHECK(res.status() == 999);
  CHECK_THROWS_AS(res.set_status(404, "Not\r\nX-Injected: 1"), std::invalid_argument);
  CHECK_THROWS_AS(res.set_status(404, "Not\nFound"), std::invalid_argument);
  CHECK(res.status() == 999);
}

TEST_CASE("response: header injection is rejected") {
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  Response res(&r.state);
  for (const std::string_view name : {"X-A\r", "X\nA", "X-A\r\nX-B", "X:A", "X-A:", ":", ""}) {
    CAPTURE(name);
    CHECK_THROWS_AS(res.set_header(name, "v"), std::invalid_argument);
    CHECK_THROWS_AS(res.add_header(name, "v"), std::invalid_argument);
  }
  for (const std::string_view value : {"a\r\nX-Injected: 1", "a\rb", "a\nb", "\n"}) {
    CAPTURE(value);
    CHECK_THROWS_AS(res.set_header("X-A", value), std::invalid_argument);
    CHECK_THROWS_AS(res.add_header("X-A", value), std::invalid_argument);
    CHECK_THROWS_AS(res.set_content_type(value), std::invalid_argument);
  }
  // ':' is fine in a value, and a value may be empty.
  res.set_header("Location", "http://example.com:8080/x");
  res.set_header("X-Empty", "");
  res.finish();
  const Sent sent = take_apart(r.sink.out);
  const auto lines = header_lines(sent.head);
  CHECK(count(lines, "Location: http://example.com:8080/x") == 1);
  CHECK(count(lines, "X-Empty: ") == 1);
  CHECK(count(lines, "X-A") == 0);  // nothing of the rejected calls went in
}

TEST_CASE("response: finish sends a buffered response in one send, with Content-Length") {
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  Response res(&r.state);
  res.set_status(201);
  res.set_header("X-Custom", "1");
  res.set_header("Content-Length", "999");  // replaced by the real length
  res << "hello, "
      << "world";
  CHECK(r.sink.sends == 0);  // buffered
  CHECK_FALSE(res.headers_sent());
  res.finish(3);
  CHECK(res.finished());
  CHECK(res.headers_sent());
  CHECK(r.sink.sends == 1);
  CHECK(r.state.phase == RequestPhase::finishing);
  CHECK(r.state.status == 201);
  CHECK(r.state.bytes_out == 12);

  const Sent sent = take_apart(r.sink.out);
  CHECK(sent.ids_ok);
  CHECK(sent.order_ok);
  CHECK(sent.stdout_records == 2);  // the headers, then the body
  CHECK(sent.stdout_ended);
  CHECK(sent.end_request);
  CHECK(sent.app_status == 3);
  CHECK(sent.protocol_status ==
        static_cast<std::uint8_t>(co::cgi::ProtocolStatus::request_complete));
  CHECK(sent.body == "hello, world");
  const auto lines = header_lines(sent.head);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0] == "Status: 201 Created");
  CHECK(count(lines, "X-Custom: 1") == 1);
  CHECK(count(lines, "Content-Length:") == 1);
  CHECK(count(lines, "Content-Length: 12") == 1);
  CHECK(count(lines, "Content-Type: text/html; charset=utf-8") == 1);

  res.finish();  // once only
  CHECK(r.sink.sends == 1);
  CHECK_THROWS_AS(res.write("late"), RequestAborted);
}

TEST_CASE("response: an empty response") {
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  Response res(&r.state);
  res.set_status(204);
  res.finish();
  const Sent sent = take_apart(r.sink.out);
  CHECK(sent.order_ok);
  CHECK(sent.end_request);
  CHECK(sent.body.empty());
  CHECK(header_lines(sent.head)[0] == "Status: 204 No Content");
  // RFC 9110 8.6: a 204 carries no Content-Length (nor a default Content-Type).
  CHECK(count(header_lines(sent.head), "Content-Length: 0") == 0);
  CHECK(header_lines(sent.head).size() == 1);
}

TEST_CASE("response: an empty 200 says Content-Length: 0") {
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  Response res(&r.state);
  res.finish();
  const Sent sent = take_apart(r.sink.out);
  CHECK(count(header_lines(sent.head), "Content-Length: 0") == 1);
}

TEST_CASE("response: set_header replaces case-insensitively, add_header appends") {
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  Response res(&r.state);
  res.set_header("X-Thing", "1");
  res.add_header("Set-Cookie", "a=1");
  res.add_header("set-cookie", "b=2");
  res.set_header("x-THING", "2");
  res.add_header("X-Other", "o");
  res.set_content_type("application/json");
  res.set_header("content-type", "text/plain");
  res.finish();
  const auto lines = header_lines(take_apart(r.sink.out).head);
  CHECK(count(lines, "X-Thing") == 0);
  CHECK(count(lines, "x-THING: 2") == 1);
  CHECK(count(lines, "Set-Cookie: a=1") == 1);
  CHECK(count(lines, "set-cookie: b=2") == 1);
  CHECK(count(lines, "X-Other: o") == 1);
  // A Content-Type of its own: no default one.
  CHECK(count(lines, "content-type: text/plain") == 1);
  CHECK(count(lines, "Content-Type") == 0);

  // set_header also replaces every add_header'ed one.
  UnitRequest r2;
  r2.state.move_to(RequestPhase::running);
  Response res2(&r2.state);
  res2.add_header("Vary", "a");
  res2.add_header("Vary", "b");
  res2.set_header("VARY", "c");
  res2.finish();
  const auto lines2 = header_lines(take_apart(r2.sink.out).head);
  CHECK(count(lines2, "Vary") == 0);
  CHECK(count(lines2, "VARY: c") == 1);
}

TEST_CASE("response: reason phrases") {
  CHECK(co::cgi::reason_phrase(200) == "OK");
  CHECK(co::cgi::reason_phrase(404) == "Not Found");
  CHECK(co::cgi::reason_phrase(405) == "Method Not Allowed");
  CHECK(co::cgi::reason_phrase(413) == "Payload Too Large");
  CHECK(co::cgi::reason_phrase(500) == "Internal Server Error");
  CHECK(co::cgi::reason_phrase(503) == "Service Unavailable");
  CHECK(co::cgi::reason_phrase(299) == "Unknown");

  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  Response res(&r.state);
  res.set_status(299, "Custom Thing");
  res.finish();
  CHECK(header_lines(take_apart(r.sink.out).head)[0] == "Status: 299 Custom Thing");

  UnitRequest r2;
  r2.state.move_to(RequestPhase::running);
  Response res2(&r2.state);
  res2.set_status(299);
  res2.finish();
  CHECK(header_lines(take_apart(r2.sink.out).head)[0] == "Status: 299 Unknown");
}

TEST_CASE("response: a response over kFlushThreshold streams") {
  cofcgi_test::LeakCheck leaks;
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  r.state.body.end();  // no request body: the first flush need not wait
  Response res(&r.state);
  std::string expected;
  co::go([&] {
    const std::string piece(3000, 'z');
    for (int i = 0; expected.size() < 5 * Response::kFlushThreshold; ++i) {
      const std::string chunk = std::to_string(i) + piece;
      res.write(chunk);
      expected += chunk;
    }
    CHECK(res.headers_sent());
    CHECK(r.sink.sends >= 4);
    res.write(std::string(200 * 1024, 'L'));  // one write far over the threshold
    expected += std::string(200 * 1024, 'L');
    res.finish();
  });
  co::run();
  const Sent sent = take_apart(r.sink.out);
  CHECK(sent.ids_ok);
  CHECK(sent.order_ok);
  CHECK(sent.end_request);
  CHECK(sent.stdout_records > 10);
  CHECK(sent.body == expected);
  const auto lines = header_lines(sent.head);
  CHECK(lines[0] == "Status: 200 OK");
  CHECK(count(lines, "Content-Length") == 0);
  CHECK(count(lines, "Content-Type: text/html; charset=utf-8") == 1);
  CHECK(r.state.bytes_out == expected.size());
}

TEST_CASE("response: the first flush waits until the whole request body arrived") {
  cofcgi_test::LeakCheck leaks;
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  co::cgi::Request req(&r.state);
  Response res(&r.state);
  std::vector<std::string> log;
  co::go([&] {
    res.write("early");
    log.push_back("flush");
    res.flush();
    log.push_back("flushed");
    CHECK(res.headers_sent());
    CHECK(req.body() == "abcdef");  // buffered meanwhile, all of it still there
    res.write("more");
    res.flush();  // headers sent: no wait
    log.push_back("flushed again");
    res.finish();
  });
  co::go([&] {
    r.state.body.append("abc");
    co::yield();
    log.push_back("appended");
    CHECK(r.sink.out.empty());  // nothing went out while the body flows
    r.state.body.append("def");
    co::yield();
    CHECK(r.sink.out.empty());
    log.push_back("end");
    r.state.body.end();
  });
  co::run();
  const std::vector<std::string> expected = {"flush", "appended", "end", "flushed",
                                             "flushed again"};
  CHECK(log == expected);
  const Sent sent = take_apart(r.sink.out);
  CHECK(sent.body == "earlymore");
  CHECK(sent.end_request);
  CHECK(count(header_lines(sent.head), "Content-Length") == 0);
}

TEST_CASE("response: flush with nothing buffered sends only the headers, then nothing") {
  cofcgi_test::LeakCheck leaks;
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  r.state.body.end();
  Response res(&r.state);
  co::go([&] {
    res.flush();
    CHECK(r.sink.sends == 1);
    res.flush();
    CHECK(r.sink.sends == 1);
  });
  co::run();
  const Sent sent = take_apart(r.sink.out);
  CHECK_FALSE(sent.head.empty());
  CHECK(sent.body.empty());
}

TEST_CASE("response: RequestAborted from write and flush once the request is aborted") {
  cofcgi_test::LeakCheck leaks;
  SUBCASE("aborted before") {
    UnitRequest r;
    r.state.move_to(RequestPhase::running);
    r.state.body.end();
    Response res(&r.state);
    res.write("x");
    r.state.move_to(RequestPhase::aborted);
    CHECK_THROWS_AS(res.write("y"), RequestAborted);
    CHECK_THROWS_AS(res.flush(), RequestAborted);
    CHECK_THROWS_AS(res << "z", RequestAborted);
    CHECK(r.sink.sends == 0);
  }
  SUBCASE("aborted while the first flush waits for the body") {
    UnitRequest r;
    r.state.move_to(RequestPhase::running);
    Response res(&r.state);
    bool threw = false;
    co::go([&] {
      res.write("x");
      try {
        res.flush();
      } catch (const RequestAborted&) {
        threw = true;
      }
    });
    co::go([&] {
      r.state.move_to(RequestPhase::aborted);
      r.state.body.abandon();
    });
    co::run();
    CHECK(threw);
    CHECK(r.sink.sends == 0);
  }
  SUBCASE("the sink refuses") {
    UnitRequest r;
    r.state.move_to(RequestPhase::running);
    r.state.body.end();
    r.sink.refuse = true;
    Response res(&r.state);
    co::go([&] {
      res.write("x");
      CHECK_THROWS_AS(res.flush(), RequestAborted);
    });
    co::run();
    CHECK(r.sink.sends == 1);
  }
}

TEST_CASE("response: finish after an abort sends nothing") {
  UnitRequest r;
  r.state.move_to(RequestPhase::running);
  Response res(&r.state);
  res.write("partial");
  r.state.move_to(RequestPhase::aborted);
  res.finish();
  CHECK(res.finished());
  CHECK(r.sink.sends == 0);
  CHECK(r.sink.out.empty());
  CHECK(r.state.phase == RequestPhase::aborted);  // the runner moves it to ended
}

TEST_CASE("response: send_error") {
  cofcgi_test::LeakCheck leaks;
  SUBCASE("before the headers went out it replaces the response") {
    UnitRequest r;
    r.state.move_to(RequestPhase::running);
    Response res(&r.state);
    res.set_status(200, "Fine");
    res.set_header("X-Before", "1");
    res.set_content_type("application/json");
    res.write("{\"partial\":");
    res.send_error(404, "no such thing\n");
    CHECK(res.status() == 404);
    res.finish();
    const Sent sent = take_apart(r.sink.out);
    const auto lines = header_lines(sent.head);
    CHECK(lines[0] == "Status: 404 Not Found");
    CHECK(count(lines, "X-Before") == 0);
    CHECK(count(lines, "Content-Type: text/plain; charset=utf-8") == 1);
    CHECK(count(lines, "Content-Length: 14") == 1);
    CHECK(sent.body == "no such thing\n");
  }
  SUBCASE("after the headers went out it does nothing") {
    UnitRequest r;
    r.state.move_to(RequestPhase::running);
    r.state.body.end();
    Response res(&r.state);
    co::go([&] {
      res.write("streamed ");
      res.flush();
      res.send_error(500, "too late\n");
      CHECK(res.status() == 200);
      res.write("rest");
      res.finish();
    });
    co::run();
    const Sent sent = take_apart(r.sink.out);
    CHECK(header_lines(sent.head)[0] == "Status: 200 OK");
    CHECK(sent.body == "streamed rest");
    CHECK(r.state.status == 200);
  }
}
