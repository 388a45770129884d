// What a hostile peer must not be able to pin, found by attacking the server (a red-team
// session against the FastCGI port): request slots held by requests that never finish their
// params, memory held by such params, STDIN streams left unfinished on answered requests,
// and a connection's body budget lifted for all its requests by one waiting for its body.
// Counting assertions; the only time bounds are loose ones on deadlines the test sets.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cgi_test_util.h"
#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/response.h"
#include "cofcgi/cgi/server.h"
#include "cofcgi/runtime/sleep.h"
#include "leak_check.h"

namespace {

using namespace cgi_test;
using co::cgi::Request;
using co::cgi::Response;
using co::cgi::ServerOptions;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kKiB = 1024;

ServerOptions pinning_options() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 1;
  return o;
}

// /ignore answers at once without reading the body; /hold?ms=N sleeps without reading it;
// /stream flushes first (so it waits for its whole body), then reads it.
co::cgi::Handler pinning_handler() {
  return [](Request& req, Response& resp) {
    resp.set_content_type("text/plain");
    const std::string path(req.path());
    if (path == "/hold") {
      co::sleep_for(milliseconds(std::stoi(req.query("ms").value_or("3000"))));
    } else if (path == "/stream") {
      resp << "streaming\n";
      resp.flush();
      resp << "size " << std::to_string(req.body().size()) << "\n";
      return;
    }
    resp << "hello " << path << "\n";
  };
}

std::string unfinished_params(std::uint16_t id) {
  return begin_request(id) + record(kParams, id, encode_pairs(cgi_params("GET", "/never")));
}

// accepted_bytes writes `wire` without blocking until it is all out or nothing moved for
// `quiet`; returns how much the server took.
std::size_t accepted_bytes(int fd, const std::string& wire, milliseconds quiet) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::size_t at = 0;
  auto last = Clock::now();
  while (at < wire.size() && Clock::now() - last < quiet) {
    const ssize_t n = ::send(fd, wire.data() + at, wire.size() - at, MSG_NOSIGNAL);
    if (n > 0) {
      at += static_cast<std::size_t>(n);
      last = Clock::now();
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 50);
  }
  return at;
}

}  // namespace

TEST_CASE_FIXTURE(
    cofcgi_test::LeakCheck,
    "requests that never finish their params do not take the process's request slots") {
  ServerOptions o = pinning_options();
  o.max_requests_in_flight = 20;
  o.params_timeout = 60000ms;
  InProcessServer server(o, pinning_handler());
  std::vector<std::unique_ptr<FcgiConn>> attackers;
  for (int c = 0; c < 4; ++c) {
    attackers.push_back(std::make_unique<FcgiConn>(server.address()));
    std::string wire;
    for (std::uint16_t id = 1; id <= 8; ++id) wire += unfinished_params(id);
    attackers.back()->send(wire);  // 32 requests begun, none with a handler
  }
  FcgiConn probe(server.address());
  // The attackers' BEGINs are read before the probe's: a GET_VALUES round trip on each
  // attacking connection shows its records were handled.
  for (auto& a : attackers) {
    a->send(record(kGetValues, 0, encode_pairs({{"FCGI_MPXS_CONNS", ""}})));
    REQUIRE(a->read_record(loose(10000ms)));
  }
  const FcgiReply reply = probe.request(1, cgi_params("GET", "/probe"));
  REQUIRE(reply.complete);
  CHECK_MESSAGE(reply.protocol_status == 0,
                "protocol status " << int(reply.protocol_status) << " (2: FCGI_OVERLOADED)");
  CHECK(parse_cgi_response(reply.out).body == "hello /probe\n");
}

TEST_CASE_FIXTURE(cofcgi_test::LeakCheck,
                  "params held by unfinished requests are capped per process: over it, 431") {
  ServerOptions o = pinning_options();
  o.max_params_bytes = 64 * kKiB;
  o.max_buffered_params = 256 * kKiB;
  o.params_timeout = 60000ms;
  InProcessServer server(o, pinning_handler());
  // 8 requests of 60 KiB of params each, never ended: 480 KiB asked for.
  FcgiConn attacker(server.address());
  const std::string big(60 * kKiB, 'p');
  std::string wire;
  for (std::uint16_t id = 1; id <= 8; ++id) {
    wire += begin_request(id) + record(kParams, id, encode_pairs({{"HTTP_X_PAD", big}}));
  }
  attacker.send(wire);
  attacker.send(record(kGetValues, 0, encode_pairs({{"FCGI_MPXS_CONNS", ""}})));
  REQUIRE(attacker.read_record(loose(10000ms)));
  // A normal request whose params fit only if the attacker's are not all held.
  FcgiConn probe(server.address());
  Pairs params = cgi_params("GET", "/probe");
  params.emplace_back("HTTP_X_PAD", std::string(32 * kKiB, 'q'));
  const FcgiReply reply = probe.request(1, params);
  REQUIRE(reply.complete);
  CHECK(parse_cgi_response(reply.out).status == 431);
  // Once the attacker goes, its params are released: the same request is served.
  ::shutdown(attacker.fd(), SHUT_RDWR);
  CHECK(attacker.wait_closed(loose(10000ms)));
  const auto until = Clock::now() + loose(10000ms);
  int status = 0;
  while (status != 200 && Clock::now() < until) {
    FcgiConn again(server.address());
    status = parse_cgi_response(again.request(1, params).out).status;
    if (status != 200) std::this_thread::sleep_for(50ms);
  }
  CHECK(status == 200);
}

TEST_CASE_FIXTURE(cofcgi_test::LeakCheck,
                  "STDIN streams left unfinished on answered requests are capped per connection") {
  ServerOptions o = pinning_options();
  o.max_requests_per_connection_in_flight = 8;
  InProcessServer server(o, pinning_handler());
  FcgiConn conn(server.address());
  // Each request announces a body, sends none of it, and is answered at once: the server
  // must remember that its STDIN is still to come. 200 of them on one connection.
  int answered = 0;
  bool closed = false;
  for (std::uint16_t id = 1; id <= 200 && !closed; ++id) {
    if (!conn.try_send(begin_request(id) +
                       stream(kParams, id, encode_pairs(cgi_params("POST", "/ignore", 10))))) {
      closed = true;
      break;
    }
    const FcgiReply reply = conn.read_reply(id, loose(10000ms));
    if (!reply.complete) {
      closed = conn.closed() || conn.wait_closed(loose(10000ms));
      break;
    }
    ++answered;
  }
  CHECK_MESSAGE(closed,
                "the connection is still open with " << answered << " unfinished STDIN streams");
  CHECK(answered <= 9);
}

TEST_CASE_FIXTURE(cofcgi_test::LeakCheck,
                  "a drain does not wait for STDIN the web server never finishes: it ends with 0") {
  ServerOptions o = pinning_options();
  o.grace_period = 3000ms;
  auto server = std::make_unique<InProcessServer>(o, pinning_handler());
  FcgiConn conn(server->address());
  conn.send(begin_request(1) + stream(kParams, 1, encode_pairs(cgi_params("POST", "/ignore", 10))));
  REQUIRE(conn.read_reply(1).complete);
  // The request was answered; its STDIN never ends. The drain must not take that for a
  // request in flight (it would run into grace_period and exit with status 1).
  CHECK(server->stop_and_join() == 0);
}

TEST_CASE_FIXTURE(
    cofcgi_test::LeakCheck,
    "a request waiting for its whole body lifts the connection's body cap for its own "
    "bytes only") {
  TempDir dir;
  ServerOptions o = pinning_options();
  o.listen = "unix:" + dir.path() + "/fcgi.sock";
  o.max_buffered_body_per_connection = 256 * kKiB;
  o.max_body = 16 * 1024 * kKiB;
  InProcessServer server(o, pinning_handler());
  const int fd = connect_to(server.address());
  REQUIRE(fd >= 0);
  // Request 1 streams (waits for its whole body), its body begun and unfinished; requests
  // 2..9 hold without reading, 1 MiB of body each.
  std::string wire = begin_request(1) +
                     stream(kParams, 1, encode_pairs(cgi_params("POST", "/stream", 1024 * kKiB))) +
                     record(kStdin, 1, std::string(40 * kKiB, 'a'));
  for (std::uint16_t id = 2; id <= 9; ++id) {
    wire += begin_request(id) +
            stream(kParams, id, encode_pairs(cgi_params("POST", "/hold?ms=5000", 1024 * kKiB))) +
            stream(kStdin, id, std::string(1024 * kKiB, 'b'));
  }
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  ::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
  const std::size_t accepted = accepted_bytes(fd, wire, 1000ms);
  const std::size_t bound =
      256 * kKiB + 40 * kKiB + 2 * static_cast<std::size_t>(sndbuf) + 256 * kKiB;
  CHECK_MESSAGE(accepted <= bound, "the connection took " << accepted << " bytes (bound " << bound
                                                          << "): its cap was lifted for everyone");
  ::close(fd);
}
