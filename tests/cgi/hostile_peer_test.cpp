// Hostile peers against an in-process Server (cgi/src): a connection that never stops
// sending, a body that stops halfway, bodies nobody reads, aborts past the in-flight cap,
// slowloris, and the log of refused connections. Each case pins one limit of ServerOptions
// (server.h): max_records_per_wakeup, body_timeout, max_buffered_body_per_connection and
// max_buffered_body, max_requests_per_connection_in_flight, record_timeout, and the
// max_connections warning's rate limit.
//
// The assertions count and order things; where a deadline is the point (body_timeout,
// record_timeout) the bound is ten times the configured timeout, twenty under a sanitizer.
// Clients close before the server is destroyed: a handler still waiting for its body then
// sees RequestAborted, and the drain does not run into its grace period.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cgi_test_util.h"
#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/response.h"
#include "cofcgi/cgi/server.h"
#include "cofcgi/runtime/cancel.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/sleep.h"
#include "leak_check.h"

namespace {

using namespace cgi_test;
using co::cgi::Request;
using co::cgi::Response;
using co::cgi::ServerOptions;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kMiB = 1024 * 1024;

ServerOptions hostile_options() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 1;
  return o;
}

int int_sockopt(int fd, int option) {
  int value = 0;
  socklen_t len = sizeof value;
  REQUIRE(::getsockopt(fd, SOL_SOCKET, option, &value, &len) == 0);
  return value;
}

void set_int_sockopt(int fd, int option, int value) {
  REQUIRE(::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value) == 0);
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  REQUIRE(flags >= 0);
  REQUIRE(::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
}

// peer_closed: the server closed (EOF or reset) a socket we have not read from, within
// `timeout`; bytes that arrive meanwhile are read and dropped.
bool peer_closed(int fd, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
    if (n > 0) continue;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));
  }
}

bool same_inet(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != AF_INET || b.ss_family != AF_INET) return false;
  const auto& x = reinterpret_cast<const sockaddr_in&>(a);
  const auto& y = reinterpret_cast<const sockaddr_in&>(b);
  return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
}

// server_end: the in-process server's fd for the TCP connection whose client end is
// `client_fd`, found among /proc/self/fd by its two addresses once the server accepted it
// (waits up to 5 s); -1 if it never shows up.
int server_end(int client_fd) {
  sockaddr_storage local{}, peer{};
  socklen_t len = sizeof local;
  if (::getsockname(client_fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return -1;
  len = sizeof peer;
  if (::getpeername(client_fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return -1;
  const auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      const int fd = std::atoi(entry.path().filename().c_str());
      if (fd == client_fd) continue;
      sockaddr_storage a{}, b{};
      socklen_t la = sizeof a, lb = sizeof b;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &la) == 0 &&
          ::getpeername(fd, reinterpret_cast<sockaddr*>(&b), &lb) == 0 && same_inet(a, peer) &&
          same_inet(b, local)) {
        return fd;
      }
    }
    std::this_thread::sleep_for(5ms);
  }
  return -1;
}

// What the handlers saw. /hold counts its handlers while they run and holds until released.
struct Seen {
  std::atomic<int> entered{0};  // any handler
  std::atomic<int> started{0};  // /hold
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> finished{0};
  std::atomic<bool> release{false};
};

// The handler every test here uses:
//   /hold?ms=N  never reads the body; runs until released (or N ms), even when aborted,
//               counting how many run
//   /body       reads the whole body, answers its size
//   /stream     streams a first part (flush) without reading the body, then the rest
//   anything    "hello PATH"
co::cgi::Handler hostile_handler(Seen* seen) {
  return [seen](Request& req, Response& resp) {
    seen->entered.fetch_add(1);
    resp.set_content_type("text/plain");
    const std::string path(req.path());
    if (path == "/hold") {
      seen->started.fetch_add(1);
      const int now = seen->running.fetch_add(1) + 1;
      int seen_max = seen->max_running.load();
      while (now > seen_max && !seen->max_running.compare_exchange_weak(seen_max, now)) {
      }
      const auto until = Clock::now() + milliseconds(std::stoi(req.query("ms").value_or("3000")));
      // Holds on even when its request is aborted (which cancels the coroutine): it stands
      // for a handler that does not stop at once (busy computing, or cleaning up in a
      // shield), which the caps must still count.
      const co::CancelShield keep_holding;
      while (!seen->release.load() && Clock::now() < until) co::sleep_for(milliseconds(20));
      seen->running.fetch_sub(1);
      seen->finished.fetch_add(1);
      resp << "held\n";
    } else if (path == "/body") {
      const std::string& body = req.body();
      resp << "size " << std::to_string(body.size()) << "\n";
    } else if (path == "/stream") {
      resp << "partial\n";
      resp.flush();
      resp << "rest\n";
    } else {
      resp << "hello " << path << "\n";
    }
  };
}

void check_hello(const FcgiReply& reply, const std::string& path) {
  REQUIRE(reply.complete);
  CHECK(reply.protocol_status == 0);
  CHECK(parse_cgi_response(reply.out).body == "hello " + path + "\n");
}

// ---- 8. one connection cannot hold its thread ----------------------------------------

// The flooder writes 8-byte records of an unknown management type (id 0, type 200, no
// content) as fast as the socket takes them, for kFloodFor or until told to stop; the
// server answers each with a 16-byte UNKNOWN_TYPE record, which the drainer reads and checks.
// The server reads faster than it answers (a syscall per answer), so the flooded socket
// always has data: a reader that parks only on EAGAIN never parks while the flood lasts.
TEST_CASE_FIXTURE(
    cofcgi_test::LeakCheck,
    "a connection flooding management records does not hold its thread: another connection "
    "is answered while the flood goes on") {
  Seen seen;
  InProcessServer server(hostile_options(), hostile_handler(&seen));
  // The other connection is accepted and served once before the flood begins.
  FcgiConn other(server.address());
  check_hello(other.request(1, cgi_params("GET", "/before")), "/before");

  FcgiConn flood(server.address());
  // Fixed buffers of a few MiB both ways, the server's end included (in-process: its fd is
  // ours to tune): a test thread descheduled for a moment must neither leave the server
  // without input (an empty receive queue parks today's reader too) nor make its answers
  // wait; and the flood must not get so far ahead that the server chews on it for long
  // once it stops. (Left to autotuning, loopback receive buffers stay near tcp_rmem[1].)
  const int flood_server_fd = server_end(flood.fd());
  REQUIRE_MESSAGE(flood_server_fd >= 0, "the server's end of the flooded connection not found");
  set_int_sockopt(flood_server_fd, SO_RCVBUF, 2 * kMiB);
  set_int_sockopt(flood_server_fd, SO_SNDBUF, 4 * kMiB);
  set_int_sockopt(flood.fd(), SO_SNDBUF, 256 * 1024);
  set_int_sockopt(flood.fd(), SO_RCVBUF, 4 * kMiB);
  constexpr std::size_t kRecordsPerChunk = 16384;  // 128 KiB per send
  const std::string one = record(200, 0, "");
  REQUIRE(one.size() == 8);
  std::string chunk;
  for (std::size_t i = 0; i < kRecordsPerChunk; ++i) chunk += one;
  const std::string answer = record(kUnknownType, 0, std::string("\xc8\0\0\0\0\0\0\0", 8));
  REQUIRE(answer.size() == 16);

  const milliseconds kFloodFor = 6000ms;
  std::atomic<bool> stop_flood{false}, flood_done{false}, stop_drain{false}, give_up{false};
  std::atomic<bool> flood_failed{false}, drain_closed{false};
  std::atomic<std::uint64_t> records_sent{0}, answers{0}, bad_answers{0};
  std::thread flooder([&] {
    // Whole chunks only (whole records), non-blocking: a failed test never leaves this
    // thread stuck in send().
    const auto until = Clock::now() + kFloodFor;
    while (!stop_flood.load() && Clock::now() < until && !flood_failed.load()) {
      std::string_view left = chunk;
      const auto chunk_deadline = Clock::now() + 20s;
      while (!left.empty()) {
        const ssize_t n = ::send(flood.fd(), left.data(), left.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
          left.remove_prefix(static_cast<std::size_t>(n));
          continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
        if (give_up.load() || Clock::now() > chunk_deadline) break;
        pollfd p{flood.fd(), POLLOUT, 0};
        ::poll(&p, 1, 50);
      }
      if (!left.empty()) {
        flood_failed.store(true);
        break;
      }
      records_sent.fetch_add(kRecordsPerChunk);
    }
    flood_done.store(true);
  });
  std::thread drainer([&] {
    std::string pending;
    std::vector<char> buf(kMiB);
    while (!stop_drain.load()) {
      pollfd p{flood.fd(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(flood.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        drain_closed.store(true);
        return;
      }
      pending.append(buf.data(), static_cast<std::size_t>(n));
      std::size_t at = 0;
      std::uint64_t good = 0, bad = 0;
      for (; at + 16 <= pending.size(); at += 16) {
        if (std::memcmp(pending.data() + at, answer.data(), 16) == 0)
          ++good;
        else
          ++bad;
      }
      pending.erase(0, at);
      answers.fetch_add(good);
      bad_answers.fetch_add(bad);
    }
  });
  struct Joiner {  // on an early REQUIRE failure
    std::thread& a;
    std::thread& b;
    std::atomic<bool>& stop_a;
    std::atomic<bool>& give_up_a;
    std::atomic<bool>& stop_b;
    ~Joiner() {
      stop_a.store(true);
      give_up_a.store(true);
      if (a.joinable()) a.join();
      stop_b.store(true);
      if (b.joinable()) b.join();
    }
  } joiner{flooder, drainer, stop_flood, give_up, stop_drain};

  // The server is busy with the flood: answers are coming back.
  const auto wait_start = Clock::now();
  while (answers.load() < 20000 && !flood_done.load() && ms_since(wait_start) < 10000)
    std::this_thread::sleep_for(1ms);
  REQUIRE_MESSAGE(answers.load() >= 20000,
                  "the flood did not get going: " << answers.load() << " answers, flood "
                                                  << (flood_done.load() ? "over" : "running"));
  const std::uint64_t answers_at_send = answers.load();
  const auto t_send = Clock::now();
  other.send(whole_request(2, cgi_params("GET", "/during")));
  const FcgiReply during = other.read_reply(2, kFloodFor + 20000ms);
  const bool flood_over_at_answer = flood_done.load();
  const std::uint64_t sent_at_answer = records_sent.load();
  const std::uint64_t answers_at_answer = answers.load();
  const long long waited = ms_since(t_send);
  stop_flood.store(true);
  flooder.join();

  check_hello(during, "/during");
  CHECK_MESSAGE(!flood_over_at_answer,
                "the other connection was answered only after the flood stopped ("
                    << waited << " ms after its request; " << sent_at_answer
                    << " records flooded by then, " << (answers_at_answer - answers_at_send)
                    << " of them answered meanwhile)");
  CHECK_FALSE(flood_failed.load());

  // Every flooded record is answered, whole, and nothing else arrives.
  const auto drain_start = Clock::now();
  while (answers.load() + bad_answers.load() < records_sent.load() && !drain_closed.load() &&
         ms_since(drain_start) < 20000)
    std::this_thread::sleep_for(5ms);
  stop_drain.store(true);
  drainer.join();
  CHECK_FALSE(drain_closed.load());
  CHECK(bad_answers.load() == 0);
  CHECK_MESSAGE(answers.load() == records_sent.load(), answers.load()
                                                           << " UNKNOWN_TYPE answers for "
                                                           << records_sent.load() << " records");
  // Both connections still serve.
  check_hello(other.request(3, cgi_params("GET", "/after")), "/after");
}

// ---- 9. a body that stops halfway ----------------------------------------------------

TEST_CASE_FIXTURE(cofcgi_test::LeakCheck,
                  "a request whose body stops halfway is ended by body_timeout") {
  Seen seen;
  ServerOptions o = hostile_options();
  o.body_timeout = 1000ms;
  o.idle_timeout = 60000ms;
  o.params_timeout = 60000ms;
  o.record_timeout = 60000ms;
  o.write_timeout = 60000ms;
  InProcessServer server(o, hostile_handler(&seen));
  std::string path;
  SUBCASE("the handler reads the body") { path = "/body"; }
  SUBCASE("the handler streams its answer without reading the body") { path = "/stream"; }
  CAPTURE(path);
  FcgiConn conn(server.address());
  // Complete PARAMS announcing 100 bytes, 10 of them, then silence.
  const auto t0 = Clock::now();
  conn.send(begin_request(1) + stream(kParams, 1, encode_pairs(cgi_params("POST", path, 100))) +
            record(kStdin, 1, std::string(10, 'b')));
  const auto deadline = t0 + loose(10000ms);
  bool ended = false;
  std::string how;
  while (!ended && Clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    const auto r = conn.read_record(std::max(left, milliseconds(1)));
    if (!r) {
      if (conn.closed()) {
        ended = true;
        how = "connection closed";
      }
      continue;
    }
    if (r->type == kEndRequest && r->id == 1) {
      ended = true;
      how = "END_REQUEST";
    }
  }
  const long long elapsed = ms_since(t0);
  CHECK(seen.entered.load() == 1);
  CHECK_MESSAGE(ended, "10 of 100 body bytes, then silence: the request is still open after "
                           << elapsed << " ms (body_timeout 1000 ms)");
  // Not before the timeout: it is the body deadline that ended it.
  if (ended) CHECK_MESSAGE(elapsed >= 900, "ended by " << how << " after " << elapsed << " ms");
}

// ---- 10. bodies nobody reads ---------------------------------------------------------

// push_bodies writes, on each connection, `requests` whole requests (BEGIN, PARAMS with
// CONTENT_LENGTH, the body in STDIN records) for the /hold handler, which never reads them,
// as far as the server takes them: non-blocking, until every byte went out or nothing moved
// for `quiet`. Returns the bytes each connection accepted.
std::vector<std::size_t> push_bodies(const std::vector<int>& fds, int requests,
                                     std::size_t body_size, milliseconds quiet) {
  struct Out {
    int fd = -1;
    int next_id = 1;
    std::string wire;
    std::size_t at = 0;
    std::size_t accepted = 0;
    bool done = false;
  };
  const std::string body(body_size, 'b');
  auto wire_for = [&](int id) {
    const auto rid = static_cast<std::uint16_t>(id);
    return begin_request(rid) +
           stream(kParams, rid,
                  encode_pairs(
                      cgi_params("POST", "/hold?ms=30000", static_cast<long long>(body_size)))) +
           stream(kStdin, rid, body);
  };
  std::vector<Out> outs;
  for (int fd : fds) {
    set_nonblocking(fd);
    Out o;
    o.fd = fd;
    o.wire = wire_for(o.next_id++);
    outs.push_back(std::move(o));
  }
  auto last_progress = Clock::now();
  for (;;) {
    bool progressed = false, pending = false;
    std::vector<pollfd> polls;
    for (Out& o : outs) {
      if (o.done) continue;
      pending = true;
      const std::size_t n = std::min(o.wire.size() - o.at, kMiB);
      const ssize_t r = ::send(o.fd, o.wire.data() + o.at, n, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (r > 0) {
        progressed = true;
        o.at += static_cast<std::size_t>(r);
        o.accepted += static_cast<std::size_t>(r);
        if (o.at == o.wire.size()) {
          if (o.next_id > requests) {
            o.done = true;
          } else {
            o.wire = wire_for(o.next_id++);
            o.at = 0;
          }
        }
      } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        polls.push_back(pollfd{o.fd, POLLOUT, 0});
      } else {
        o.done = true;  // the server closed it: what it took is what it took
      }
    }
    if (!pending) break;
    if (progressed) {
      last_progress = Clock::now();
      continue;
    }
    if (Clock::now() - last_progress >= quiet) break;
    if (!polls.empty()) ::poll(polls.data(), polls.size(), 50);
  }
  std::vector<std::size_t> accepted;
  for (const Out& o : outs) accepted.push_back(o.accepted);
  return accepted;
}

// Over a unix socket the bytes in flight are bounded by the sender's SO_SNDBUF alone (the
// receiver has no buffer of its own to autotune, unlike TCP's up to tcp_rmem[2]), so what a
// connection accepted is the server's buffered body plus at most one send buffer.
TEST_CASE_FIXTURE(
    cofcgi_test::LeakCheck,
    "request bodies their handlers do not read are capped per connection and per process") {
  Seen seen;
  TempDir dir;
  ServerOptions o = hostile_options();
  o.listen = "unix:" + dir.path() + "/fcgi.sock";
  o.max_body = 16 * kMiB;
  std::size_t cap = 0;
  int connections = 0, requests = 0;
  const std::size_t body_size = 4 * kMiB;
  SUBCASE("max_buffered_body_per_connection") {
    o.max_buffered_body_per_connection = 1 * kMiB;
    cap = o.max_buffered_body_per_connection;
    connections = 1;
    requests = 20;  // 80 MiB of bodies on one connection
  }
  SUBCASE("max_buffered_body") {
    o.max_buffered_body_per_connection = 64 * kMiB;
    o.max_buffered_body = 2 * kMiB;
    cap = o.max_buffered_body;
    connections = 3;
    requests = 8;  // 32 MiB of bodies on each of 3 connections
  }
  CAPTURE(cap);
  CAPTURE(connections);
  InProcessServer server(o, hostile_handler(&seen));
  std::vector<std::unique_ptr<FcgiConn>> conns;
  std::vector<int> fds;
  for (int i = 0; i < connections; ++i) {
    conns.push_back(std::make_unique<FcgiConn>(server.address()));
    fds.push_back(conns.back()->fd());
  }
  const std::vector<std::size_t> accepted = push_bodies(fds, requests, body_size, 2000ms);
  std::size_t total = 0, in_flight_allowance = 0;
  for (std::size_t i = 0; i < accepted.size(); ++i) {
    total += accepted[i];
    // Generous: the kernel may hold up to a send buffer; the server reads up to one chunk
    // past the cap per connection, and there are the BEGIN/PARAMS/record headers.
    in_flight_allowance += 2 * static_cast<std::size_t>(int_sockopt(fds[i], SO_SNDBUF)) + kMiB;
  }
  const std::size_t offered = static_cast<std::size_t>(connections) * requests * body_size;
  const std::size_t bound = cap + in_flight_allowance + 2 * kMiB;
  REQUIRE_MESSAGE(offered > 4 * bound, "the bound " << bound << " is too large for the test");
  CHECK_MESSAGE(total <= bound, "the server took " << total << " bytes of bodies nobody reads ("
                                                   << offered << " offered, cap " << cap
                                                   << ", allowance for buffers " << bound - cap
                                                   << "); " << seen.started.load()
                                                   << " handlers holding them");
  // Let the handlers go; the connections still answer once they do.
  seen.release.store(true);
  const auto t = Clock::now();
  while (seen.finished.load() < seen.started.load() && ms_since(t) < 10000)
    std::this_thread::sleep_for(5ms);
  CHECK(seen.finished.load() == seen.started.load());
}

// ---- 11. ABORT_REQUEST and the in-flight cap -----------------------------------------

TEST_CASE_FIXTURE(
    cofcgi_test::LeakCheck,
    "aborted requests whose handlers still run count against the per-connection cap") {
  Seen seen;
  ServerOptions o = hostile_options();
  o.max_requests_per_connection_in_flight = 8;
  InProcessServer server(o, hostile_handler(&seen));
  FcgiConn conn(server.address());
  constexpr int kRequests = 50;
  // END_REQUEST protocol status by id, in arrival order.
  std::map<std::uint16_t, std::vector<int>> ends;
  auto take = [&](const RawRecord& r) {
    if (r.type == kEndRequest && r.content.size() == 8) {
      ends[r.id].push_back(static_cast<std::uint8_t>(r.content[4]));
    }
  };
  for (int i = 1; i <= kRequests; ++i) {
    const auto id = static_cast<std::uint16_t>(i);
    const int before = seen.started.load();
    conn.send(begin_request(id) +
              stream(kParams, id, encode_pairs(cgi_params("GET", "/hold?ms=20000"))));
    // Its handler runs, or its BEGIN is refused; then it is aborted.
    const auto t = Clock::now();
    while (seen.started.load() == before && ends.count(id) == 0 && ms_since(t) < 5000) {
      if (auto r = conn.read_record(5ms)) take(*r);
      REQUIRE_FALSE(conn.closed());
    }
    conn.send(record(kAbortRequest, id, ""));
  }
  // Every id gets exactly one END_REQUEST.
  const auto t = Clock::now();
  while (ends.size() < kRequests && ms_since(t) < 10000) {
    auto r = conn.read_record(100ms);
    if (r) take(*r);
    if (conn.closed()) break;
  }
  const int most_at_once = seen.max_running.load();
  const int held = seen.started.load();
  int refused = 0;
  for (const auto& [id, statuses] : ends) {
    CAPTURE(id);
    CHECK(statuses.size() == 1);
    if (statuses.front() == 1 || statuses.front() == 2) ++refused;  // CANT_MPX_CONN, OVERLOADED
  }
  CHECK(ends.size() == kRequests);
  CHECK_MESSAGE(most_at_once <= 8, most_at_once << " handlers ran at once on one connection "
                                                   "(max_requests_per_connection_in_flight 8)");
  CHECK_MESSAGE(refused >= kRequests - 8, refused << " of " << kRequests << " BEGINs refused, "
                                                  << held << " handlers started");
  seen.release.store(true);
  const auto t_release = Clock::now();
  while (seen.finished.load() < seen.started.load() && ms_since(t_release) < 10000)
    std::this_thread::sleep_for(5ms);
  CHECK(seen.finished.load() == seen.started.load());
  // The connection serves again once the handlers are gone.
  check_hello(conn.request(1, cgi_params("GET", "/after")), "/after");
}

// ---- 12. slowloris and the max_connections log ---------------------------------------

TEST_CASE_FIXTURE(cofcgi_test::LeakCheck,
                  "a record trickled a byte at a time is cut off by record_timeout") {
  Seen seen;
  ServerOptions o = hostile_options();
  o.record_timeout = 1000ms;
  o.idle_timeout = 30000ms;
  o.params_timeout = 60000ms;
  o.body_timeout = 60000ms;
  InProcessServer server(o, hostile_handler(&seen));
  constexpr int kSlow = 20;
  // BEGIN_REQUEST, then a PARAMS record that would take hours at this pace.
  const std::string wire = begin_request(1) + record(kParams, 1, std::string(60000, 'p'));
  std::vector<int> fds;
  struct Closer {
    std::vector<int>& fds;
    ~Closer() {
      for (int fd : fds) ::close(fd);
    }
  } closer{fds};
  for (int i = 0; i < kSlow; ++i) {
    const int fd = connect_to(server.address());
    REQUIRE_MESSAGE(fd >= 0, "connect: " << std::strerror(errno));
    fds.push_back(fd);
  }
  // A connection that sends nothing is not a slow record: idle_timeout (30 s) applies.
  FcgiConn idle(server.address());
  std::vector<bool> closed(kSlow, false);
  std::vector<std::size_t> sent(kSlow, 0);
  int open = kSlow;
  const auto t0 = Clock::now();
  const auto bound = loose(10000ms);
  while (open > 0 && Clock::now() - t0 < bound) {
    for (int i = 0; i < kSlow; ++i) {
      if (closed[i]) continue;
      char c;
      const ssize_t n = ::recv(fds[i], &c, 1, MSG_DONTWAIT);
      bool gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      if (!gone && ::send(fds[i], wire.data() + sent[i], 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) {
        ++sent[i];
      } else if (!gone && errno != EAGAIN) {
        gone = true;
      }
      if (gone) {
        closed[i] = true;
        --open;
      }
    }
    std::this_thread::sleep_for(200ms);
  }
  const long long elapsed = ms_since(t0);
  CHECK_MESSAGE(open == 0, open << " of " << kSlow << " connections trickling a byte every 200 ms "
                                << "are still open after " << elapsed
                                << " ms (record_timeout 1000 ms, " << sent[0]
                                << " bytes sent on the first)");
  CHECK_FALSE(idle.wait_closed(10ms));
  check_hello(idle.request(1, cgi_params("GET", "/idle-ok")), "/idle-ok");
}

TEST_CASE_FIXTURE(cofcgi_test::LeakCheck,
                  "a peer that keeps sending management records does not hold off params_timeout") {
  Seen seen;
  ServerOptions o = hostile_options();
  o.params_timeout = 1000ms;
  o.record_timeout = 60000ms;
  o.idle_timeout = 60000ms;
  InProcessServer server(o, hostile_handler(&seen));
  const int fd = connect_to(server.address());
  REQUIRE_MESSAGE(fd >= 0, "connect: " << std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // PARAMS begun and never ended; then GET_VALUES records without a pause, so the reader
  // always finds more to read and never waits (a wait is where a timeout used to be seen).
  REQUIRE(send_all(
      fd, begin_request(1) + record(kParams, 1, encode_pairs({{"REQUEST_METHOD", "GET"}}))));
  std::string batch;
  for (int i = 0; i < 512; ++i)
    batch += record(kGetValues, 0, encode_pairs({{"FCGI_MPXS_CONNS", ""}}));
  std::atomic<bool> closed{false};
  std::thread drain([&] {  // the replies are read, so the server never waits to write either
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    closed = true;
  });
  const auto t0 = Clock::now();
  const auto bound = loose(10000ms);
  while (!closed && Clock::now() - t0 < bound) {
    if (!send_all(fd, batch)) break;
  }
  const long long elapsed = ms_since(t0);
  ::shutdown(fd, SHUT_RDWR);
  drain.join();
  CHECK_MESSAGE(elapsed < bound.count(),
                "the connection was still open after "
                    << elapsed << " ms of management records (params_timeout 1000 ms)");
  CHECK(seen.entered.load() == 0);
}

// ---- the body budget never waits for room nobody can make (found by connection_fuzz) ----

TEST_CASE_FIXTURE(cofcgi_test::LeakCheck,
                  "STDIN sent before the end of PARAMS cannot pin a connection: it is closed") {
  Seen seen;
  ServerOptions o = hostile_options();
  o.max_buffered_body_per_connection = 64 * 1024;
  InProcessServer server(o, hostile_handler(&seen));
  FcgiConn conn(server.address());
  // PARAMS begun, not ended; then a body over the connection's budget for that request,
  // which has no handler yet to read it; then the end of PARAMS.
  conn.send(begin_request(1) +
            record(kParams, 1, encode_pairs(cgi_params("GET", "/body", 200000))));
  conn.try_send(stream(kStdin, 1, std::string(200000, 'b'), 32768));
  conn.try_send(record(kParams, 1, ""));
  CHECK_MESSAGE(conn.wait_closed(loose(10000ms)), "the connection is still open");
  CHECK(seen.entered.load() == 0);
  FcgiConn other(server.address());
  check_hello(other.request(1, cgi_params("GET", "/after")), "/after");
}

TEST_CASE_FIXTURE(
    cofcgi_test::LeakCheck,
    "a handler that flushes before reading, with the process's body buffer full, gets 413") {
  Seen seen;
  ServerOptions o = hostile_options();
  o.max_body = 1024 * 1024;
  o.max_buffered_body = 64 * 1024;  // smaller than the body: it can never be held whole
  InProcessServer server(o, hostile_handler(&seen));
  FcgiConn conn(server.address());
  const std::string body(300000, 'b');
  conn.send(begin_request(1) +
            stream(kParams, 1, encode_pairs(cgi_params("POST", "/stream", body.size()))));
  conn.try_send(stream(kStdin, 1, body, 32768));
  const FcgiReply reply = conn.read_reply(1, loose(10000ms));
  REQUIRE_MESSAGE(reply.complete,
                  "no answer: the reader waits for room the waiting handler cannot make");
  CHECK(parse_cgi_response(reply.out).status == 413);
  FcgiConn other(server.address());
  check_hello(other.request(1, cgi_params("GET", "/after")), "/after");
}

// StderrCapture: while it lives, fd 2 (where co::log_printf writes, one write() per line)
// goes to a file; text() is what was written so far. The log level is raised to info
// meanwhile (COFCGI_LOG_LEVEL may have silenced it).
class StderrCapture {
 public:
  explicit StderrCapture(const std::string& path) : path_(path), level_(co::log_level()) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(fd_ >= 0);
    saved_ = ::dup(2);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(fd_, 2) == 2);
    co::set_log_level(co::LogLevel::info);
  }
  ~StderrCapture() {
    co::set_log_level(level_);
    ::dup2(saved_, 2);
    ::close(saved_);
    ::close(fd_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  std::string text() const { return read_file(path_); }

 private:
  std::string path_;
  co::LogLevel level_;
  int fd_ = -1;
  int saved_ = -1;
};

int count_lines_with(const std::string& text, const std::string& needle) {
  int n = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    if (std::string_view(text).substr(at, eol - at).find(needle) != std::string_view::npos) ++n;
    at = eol + 1;
  }
  return n;
}

TEST_CASE_FIXTURE(
    cofcgi_test::LeakCheck,
    "connections refused at max_connections are closed, and logged a few lines, not one each") {
  TempDir dir;
  Seen seen;
  ServerOptions o = hostile_options();
  o.max_connections = 5;
  InProcessServer server(o, hostile_handler(&seen));
  std::vector<std::unique_ptr<FcgiConn>> admitted;
  for (int i = 0; i < 5; ++i) {
    admitted.push_back(std::make_unique<FcgiConn>(server.address()));
    check_hello(admitted.back()->request(1, cgi_params("GET", "/in")), "/in");
  }
  constexpr int kRefused = 200;
  std::string log;
  int still_open = 0;
  {
    StderrCapture capture(dir.path() + "/stderr.log");
    std::vector<int> fds;
    struct Closer {
      std::vector<int>& fds;
      ~Closer() {
        for (int fd : fds) ::close(fd);
      }
    } closer{fds};
    for (int i = 0; i < kRefused; ++i) {
      const int fd = connect_to(server.address());
      REQUIRE_MESSAGE(fd >= 0, "connect #" << i << ": " << std::strerror(errno));
      fds.push_back(fd);
    }
    for (int fd : fds) {
      if (!peer_closed(fd, 5000ms)) ++still_open;
    }
    // A rate-limited warning may come a little later; the first one not much.
    const auto t = Clock::now();
    while (count_lines_with(capture.text(), "max_connections") == 0 && ms_since(t) < 3000)
      std::this_thread::sleep_for(10ms);
    log = capture.text();
  }
  const int lines = count_lines_with(log, "max_connections");
  CHECK_MESSAGE(still_open == 0,
                still_open << " of " << kRefused << " connections over max_connections not closed");
  CHECK_MESSAGE(lines >= 1, "refusals at max_connections are not logged at all:\n" << log);
  CHECK_MESSAGE(lines <= 5,
                lines << " log lines about max_connections for " << kRefused
                      << " refused connections; the first: " << log.substr(0, log.find('\n')));
  // The admitted connections are still served.
  for (auto& conn : admitted) check_hello(conn->request(2, cgi_params("GET", "/still")), "/still");
}

}  // namespace
