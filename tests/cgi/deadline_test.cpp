// Request deadlines and cancellation through a real Server (in process, one thread) and a
// private MariaDB: request_timeout answers 504 and cuts a stuck MySQL call, the next request
// on the same worker thread succeeds; FCGI_ABORT_REQUEST and a web server that hangs up make
// the handler's blocking call fail at once; a body trickled under body_timeout no longer
// holds a request past request_timeout; 0 means none.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "cgi_test_util.h"
#include "cofcgi/adapters/mysql.h"
#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/response.h"
#include "cofcgi/cgi/server.h"
#include "cofcgi/cgi/server_options.h"
#include "cofcgi/runtime.h"
#include "mariadb_server.h"

using namespace cgi_test;
using Clock = std::chrono::steady_clock;

namespace {

cofcgi_test::MariadbServer& database() {
  static cofcgi_test::MariadbServer db;
  static const bool started = [] {
    co::mysql::library_init();
    db.start();
    return true;
  }();
  (void)started;
  return db;
}

// The process's pool (co::mysql::Pool is shared by every thread), made before the server
// starts and destroyed after it stopped.
std::unique_ptr<co::mysql::Pool> make_pool() {
  co::mysql::Config c;
  c.unix_socket = database().socket_path();
  c.user = database().user();
  c.password = database().password();
  c.max_connections = 4;
  return std::make_unique<co::mysql::Pool>(c);
}

// What the handlers saw, read by the test thread.
struct Seen {
  std::unique_ptr<co::mysql::Pool> pool_owner = make_pool();
  co::mysql::Pool& db = *pool_owner;
  std::atomic<int> started{0};
  std::atomic<int> ended{0};
  std::atomic<long long> ended_at_ms{0};  // steady clock, since epoch
  std::atomic<int> call_errno{0};         // errno of a failed hooked call
  std::mutex mutex;
  std::string error;  // what the stuck call threw
  co::mysql::Pool::Stats pool;
};

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

co::cgi::Handler handler(Seen* seen) {
  return [seen](co::cgi::Request& request, co::cgi::Response& response) {
    const std::string path(request.path());
    response.set_content_type("text/plain");
    if (path == "/select1") {
      auto conn = seen->db.acquire();
      response << "SELECT 1 = " << conn.query("SELECT 1").value(0, 0) << "\n";
      return;
    }
    if (path == "/pool") {
      seen->pool = seen->db.stats();
      response << "discarded " << std::to_string(seen->pool.discarded) << "\n";
      return;
    }
    ++seen->started;
    struct Ended {
      Seen* seen;
      ~Ended() {
        seen->ended_at_ms = now_ms();
        ++seen->ended;
      }
    } ended{seen};
    if (path == "/sleep_sql") {
      auto conn = seen->db.acquire();
      try {
        (void)conn.query("SELECT SLEEP(60)");
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(seen->mutex);
        seen->error = e.what();
        throw;
      }
      response << "slept\n";
    } else if (path == "/read_pipe") {
      // A hooked read that nothing will ever satisfy.
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
      char c;
      const ssize_t n = ::read(p[0], &c, 1);
      seen->call_errno = n < 0 ? errno : 0;
      ::close(p[0]);
      ::close(p[1]);
      response << "read " << std::to_string(n) << "\n";
    } else if (path == "/body") {
      response << "body " << std::to_string(request.body().size()) << "\n";
    } else if (path == "/partial") {
      response << "part one\n";
      response.flush();
      co::sleep_for(std::chrono::seconds(10));
      response << "never\n";
    } else if (path == "/nap") {
      co::sleep_for(std::chrono::milliseconds(400));
      response << "rested\n";
    }
  };
}

// options: the server's settings; also starts the database, from the main thread (the
// fixture's server dies with the thread that started it).
co::cgi::ServerOptions options(std::chrono::milliseconds request_timeout) {
  (void)database();
  co::cgi::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 1;
  o.request_timeout = request_timeout;
  return o;
}

void wait_for(const std::atomic<int>& counter, int value) {
  const auto start = Clock::now();
  while (counter.load() < value && ms_since(start) < 10000) std::this_thread::sleep_for(2ms);
  REQUIRE(counter.load() >= value);
}

}  // namespace

TEST_CASE(
    "deadline: request_timeout cuts SELECT SLEEP(60) in time with 504; the next request on "
    "that worker succeeds") {
  Seen seen;
  InProcessServer server(options(300ms), handler(&seen));
  FcgiConn warm(server.address());
  REQUIRE(parse_cgi_response(warm.request(1, cgi_params("GET", "/select1")).out).status == 200);

  FcgiConn conn(server.address());
  // The machine is shared and loaded: up to three tries for the ±50 ms bound (each must be a
  // 504 within a loose bound); the first in bound ends it.
  long long took = 0;
  std::uint16_t id = 1;
  for (int attempt = 0; attempt < 3; ++attempt, ++id) {
    const auto start = Clock::now();
    const FcgiReply reply = conn.request(id, cgi_params("GET", "/sleep_sql"), {}, true, 10s);
    took = ms_since(start);
    CHECK(reply.complete);
    const CgiResponse r = parse_cgi_response(reply.out);
    CHECK(r.status == 504);
    CHECK(r.body == "Gateway Timeout\n");
    CHECK(took < loose(2000ms).count());
    std::string error;
    {
      std::lock_guard<std::mutex> lock(seen.mutex);
      error = seen.error;
    }
    MESSAGE("504 after " << took << " ms (request_timeout 300 ms); the query threw: " << error);
    if (under_sanitizer() || (took >= 300 - 50 && took <= 300 + 50)) break;
  }
  if (!under_sanitizer()) {
    CHECK(took >= 300 - 50);
    CHECK(took <= 300 + 50);
  }
  {
    std::lock_guard<std::mutex> lock(seen.mutex);
    CHECK(seen.error.find("deadline passed") != std::string::npos);  // a clear MySQL error
  }
  const std::uint64_t cut = seen.ended.load();
  // The same connection and worker thread: the next request gets a working connection.
  const CgiResponse next = parse_cgi_response(conn.request(id, cgi_params("GET", "/select1")).out);
  CHECK(next.status == 200);
  CHECK(next.body == "SELECT 1 = 1\n");
  // Each connection cut mid-protocol was discarded, not lent again.
  REQUIRE(parse_cgi_response(conn.request(id, cgi_params("GET", "/pool")).out).status == 200);
  CHECK(seen.pool.discarded == cut);
}

TEST_CASE("deadline: other requests go on while one times out") {
  Seen seen;
  InProcessServer server(options(400ms), handler(&seen));
  FcgiConn stuck(server.address());
  stuck.send(whole_request(1, cgi_params("GET", "/read_pipe")));
  wait_for(seen.started, 1);
  FcgiConn other(server.address());
  for (std::uint16_t id = 1; id <= 5; ++id) {
    const CgiResponse r = parse_cgi_response(other.request(id, cgi_params("GET", "/select1")).out);
    CHECK(r.status == 200);
  }
  CHECK(seen.ended.load() == 0);  // still stuck meanwhile
  const CgiResponse timed_out = parse_cgi_response(stuck.read_reply(1, 5s).out);
  CHECK(timed_out.status == 504);
  CHECK(seen.call_errno.load() == ETIMEDOUT);
}

TEST_CASE("deadline: FCGI_ABORT_REQUEST makes the handler's blocking call fail at once") {
  Seen seen;
  InProcessServer server(options(0ms), handler(&seen));
  FcgiConn conn(server.address());
  conn.send(whole_request(1, cgi_params("GET", "/sleep_sql")));
  wait_for(seen.started, 1);
  std::this_thread::sleep_for(100ms);  // well into SELECT SLEEP(60)
  const long long aborted_at = now_ms();
  conn.send(record(kAbortRequest, 1, ""));
  const FcgiReply reply = conn.read_reply(1, 5s);
  CHECK(reply.complete);
  wait_for(seen.ended, 1);
  const long long ended_after = seen.ended_at_ms.load() - aborted_at;
  std::string error;
  {
    std::lock_guard<std::mutex> lock(seen.mutex);
    error = seen.error;
  }
  MESSAGE("handler ended " << ended_after << " ms after ABORT_REQUEST; the query threw: " << error);
  CHECK(error.find("cancelled") != std::string::npos);  // a clear MySQL error
  CHECK(ended_after < loose(1000ms).count());
  // The connection and the worker go on; the cancelled MySQL connection was discarded.
  CHECK(parse_cgi_response(conn.request(2, cgi_params("GET", "/select1")).out).status == 200);
  REQUIRE(parse_cgi_response(conn.request(3, cgi_params("GET", "/pool")).out).status == 200);
  CHECK(seen.pool.discarded == 1);
}

TEST_CASE("deadline: a web server that hangs up makes the handler's blocking call fail at once") {
  Seen seen;
  InProcessServer server(options(0ms), handler(&seen));
  {
    FcgiConn conn(server.address());
    conn.send(whole_request(1, cgi_params("GET", "/read_pipe")));
    wait_for(seen.started, 1);
  }  // closed
  const long long closed_at = now_ms();
  wait_for(seen.ended, 1);
  CHECK(seen.ended_at_ms.load() - closed_at < loose(1000ms).count());
  CHECK(seen.call_errno.load() == ECANCELED);
  FcgiConn again(server.address());
  CHECK(parse_cgi_response(again.request(1, cgi_params("GET", "/select1")).out).status == 200);
}

TEST_CASE(
    "deadline: a body trickled under body_timeout does not hold the request past "
    "request_timeout") {
  Seen seen;
  co::cgi::ServerOptions o = options(300ms);
  o.body_timeout = 10s;
  InProcessServer server(o, handler(&seen));
  FcgiConn conn(server.address());
  const std::size_t length = 100;
  conn.send(begin_request(1) +
            stream(kParams, 1, encode_pairs(cgi_params("POST", "/body", length))));
  const auto start = Clock::now();
  // One byte every 20 ms, each pause far under body_timeout: 2 s for the whole body.
  std::optional<RawRecord> first;
  for (std::size_t i = 0; i < length && !first; ++i) {
    if (!conn.try_send(record(kStdin, 1, "x"))) break;
    first = conn.read_record(20ms);
  }
  const long long took = ms_since(start);
  REQUIRE(first.has_value());  // answered before the body ended
  CHECK(first->type == kStdout);
  CHECK(first->content.rfind("Status: 504", 0) == 0);
  CHECK(took < loose(1500ms).count());
}

TEST_CASE(
    "deadline: a response cut by the deadline after its first bytes ends without "
    "END_REQUEST") {
  Seen seen;
  InProcessServer server(options(200ms), handler(&seen));
  FcgiConn conn(server.address());
  conn.send(whole_request(1, cgi_params("GET", "/partial")));
  const FcgiReply reply = conn.read_reply(1, 5s);
  CHECK_FALSE(reply.complete);  // no END_REQUEST: the web server sees it incomplete
  CHECK(reply.out.find("part one") != std::string::npos);
  CHECK(reply.out.find("never") == std::string::npos);
  CHECK(conn.wait_closed(5s));
}

TEST_CASE("deadline: request_timeout 0 is none; the default is 300 s; --request-timeout parses") {
  CHECK(co::cgi::ServerOptions{}.request_timeout == std::chrono::minutes(5));
  const char* argv[] = {"app", "--request-timeout", "0", "--listen", "127.0.0.1:0"};
  const co::cgi::ServerOptions parsed = co::cgi::parse_server_args(5, const_cast<char**>(argv));
  CHECK(parsed.request_timeout.count() == 0);
  Seen seen;
  InProcessServer server(options(0ms), handler(&seen));
  FcgiConn conn(server.address());
  const CgiResponse r = parse_cgi_response(conn.request(1, cgi_params("GET", "/nap")).out);
  CHECK(r.status == 200);
  CHECK(r.body == "rested\n");
}
