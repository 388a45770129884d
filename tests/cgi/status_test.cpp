// The status page and the ping path (ServerOptions::status_path, ping_path) against known
// load: requests parked on SELECT SLEEP in a private MariaDB, requests refused with
// FCGI_OVERLOADED, several threads; its formats; the accept queue as the kernel reports it.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cgi_test_util.h"
#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/cgi/server.h"
#include "cofcgi/runtime/sleep.h"
#include "cofcgi/runtime/unique_fd.h"
#include "listen_queue.h"
#include "mariadb_server.h"

using namespace cgi_test;
using namespace std::chrono_literals;

namespace {

co::cgi::ServerOptions status_options() {
  co::cgi::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 1;
  o.status_path = "/status";
  o.ping_path = "/ping";
  return o;
}

// get: one request on a fresh connection; the response body (empty when it failed).
CgiResponse get(const std::string& address, const std::string& uri) {
  FcgiConn conn(address);
  const FcgiReply reply = conn.request(1, cgi_params("GET", uri), {}, false, 20s);
  return parse_cgi_response(reply.out);
}

// number_after: the integer after `"key":` in a JSON text, -1 when absent.
long long json_number(const std::string& json, const std::string& key) {
  const std::size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + key.size() + 3));
}

// wait_for_json polls ?json until pred holds (or 20 s pass) and returns the last page.
template <typename Pred>
std::string wait_for_json(const std::string& address, const std::string& query, Pred pred) {
  std::string page;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    page = get(address, "/status?json" + query).body;
    if (pred(page)) break;
    std::this_thread::sleep_for(20ms);
  }
  return page;
}

// RunningServer: a co::cgi::Server on a thread of its own (sections are added before start).
struct RunningServer {
  RunningServer(co::cgi::ServerOptions o, co::cgi::Handler handler)
      : server((o.handle_signals = false, std::move(o)), std::move(handler)) {}
  ~RunningServer() {
    if (!runner.joinable()) return;
    server.stop();
    runner.join();
  }
  void start() {
    runner = std::thread([this] { server.run(); });
    while (server.bound_address().empty()) std::this_thread::sleep_for(5ms);
    address = server.bound_address();
  }
  co::cgi::Server server;
  std::thread runner;
  std::string address;
};

// A handler whose name the coroutine dump must show.
[[gnu::noinline]] void status_test_parked_handler(co::cgi::Response& response) {
  co::sleep_for(4000ms);  // long enough for a loaded machine to take every page meanwhile
  response << "slept\n";
}

}  // namespace

TEST_CASE("50 requests parked on SELECT SLEEP show as 50 in flight, each waiting on MariaDB") {
  cofcgi_test::MariadbServer db;
  db.start();
  co::mysql::Config config;
  config.host = db.host();
  config.port = db.port();
  config.user = db.user();
  config.password = db.password();
  config.max_connections = 60;
  // Made on first use, on the server's thread.
  auto pool = std::make_shared<std::unique_ptr<co::mysql::Pool>>();
  auto pool_of_thread = [pool, config]() -> co::mysql::Pool& {
    if (!*pool) *pool = std::make_unique<co::mysql::Pool>(config);
    return **pool;
  };
  RunningServer server(
      status_options(), [&](co::cgi::Request& request, co::cgi::Response& response) {
        auto connection = pool_of_thread().acquire();
        const co::mysql::Result r =
            connection.query("SELECT SLEEP(" + request.query("s").value_or("0") + ")");
        response << "slept " << r.value(0, 0) << "\n";
      });
  // What the MySQL adapter's pool says, as an app adds it (the cgi layer does not link it).
  server.server.add_status_section("mysql_pool", [pool_of_thread] {
    const co::mysql::Pool::Stats s = pool_of_thread().stats();
    return co::cgi::StatusFigures{{"in_use", static_cast<double>(s.in_use)},
                                  {"idle", static_cast<double>(s.idle)},
                                  {"waiting", static_cast<double>(s.waiting)},
                                  {"open", static_cast<double>(s.open)}};
  });
  server.start();
  std::vector<std::unique_ptr<FcgiConn>> conns;
  for (int i = 0; i < 50; ++i) {
    conns.push_back(std::make_unique<FcgiConn>(server.address));
    conns.back()->send(whole_request(1, cgi_params("GET", "/sleep?s=3")));
  }
  // Every parked request says what it waits on: a recv from the MariaDB port (once the pool
  // has opened its connections: until then they wait in acquire, on a co:: primitive).
  const std::regex waiting(
      "\"uri\":\"/sleep\\?s=3\",\"client\":\"127\\.0\\.0\\.1\",\"seconds\":[0-9.e-]+,"
      "\"waiting\":\"recv fd [0-9]+ from 127\\.0\\.0\\.1:" +
      std::to_string(db.port()) + "\"");
  const auto waiting_on_db = [&](const std::string& p) {
    return std::distance(std::sregex_iterator(p.begin(), p.end(), waiting), std::sregex_iterator());
  };
  const std::string page = wait_for_json(
      server.address, "&full", [&](const std::string& p) { return waiting_on_db(p) == 50; });
  INFO(page);
  CHECK(waiting_on_db(page) == 50);
  CHECK(json_number(page, "requests_in_flight") == 51);
  CHECK(json_number(page, "max_requests_in_flight") >= 51);
  CHECK(json_number(page, "accepted_connections") >= 51);
  CHECK(json_number(page, "accepted_requests") >= 51);
  CHECK(json_number(page, "connections") == 51);
  CHECK(json_number(page, "rejected_requests") == 0);
  CHECK(json_number(page, "threads") == 1);
  CHECK(json_number(page, "workers") == 1);
  CHECK(json_number(page, "coroutines") >= 101);  // 50 handlers, 51 connections, and more
  CHECK(json_number(page, "stack_bytes_in_use") >= 50 * 128 * 1024);
  CHECK(page.find("\"mysql_pool\":{\"idle\":0,\"in_use\":50,\"open\":50,\"waiting\":0}") !=
        std::string::npos);
  // The text form says the same, php-fpm style.
  const std::string text = get(server.address, "/status?full").body;
  CHECK(text.find("requests_in_flight: 51\n") != std::string::npos);
  CHECK(text.find("request: GET /sleep?s=3 from 127.0.0.1, ") != std::string::npos);
  CHECK(text.find(": recv fd ") != std::string::npos);

  for (auto& c : conns) CHECK(c->read_reply(1, 30s).complete);
  const std::string after = wait_for_json(server.address, "", [](const std::string& p) {
    return json_number(p, "requests_in_flight") == 1;
  });
  CHECK(json_number(after, "requests_in_flight") == 1);
  CHECK(json_number(after, "max_requests_in_flight") >= 51);
  CHECK(json_number(after, "accepted_requests") >= 53);  // 50 + the status polls
}

TEST_CASE("two threads: every thread's requests listed, sections an app adds, formats, ping") {
  co::cgi::ServerOptions o = status_options();
  o.threads = 2;
  o.ping_response = "alive";
  RunningServer server(o, [](co::cgi::Request&, co::cgi::Response& response) {
    status_test_parked_handler(response);
  });
  server.server.add_status_section("app", [] {
    return co::cgi::StatusFigures{{"two", 2}, {"half", 0.5}, {"half", 0.5}};
  });
  server.start();
  const std::string address = server.address;

  const CgiResponse ping = get(address, "/ping");
  CHECK(ping.status == 200);
  CHECK(ping.body == "alive\n");

  // Requests parked on both threads: the page asks the other thread for its own.
  std::vector<std::unique_ptr<FcgiConn>> conns;
  for (int i = 0; i < 10; ++i) {
    conns.push_back(std::make_unique<FcgiConn>(address));
    conns.back()->send(whole_request(1, cgi_params("GET", "/parked")));
  }
  // Both threads registered (a thread still starting, slow under a sanitizer, serves none yet).
  const std::string page = wait_for_json(address, "&full", [](const std::string& p) {
    return json_number(p, "requests_in_flight") == 11 && json_number(p, "threads") == 2;
  });
  INFO(page);
  CHECK(json_number(page, "threads") == 2);
  CHECK(page.find("\"app\":{\"half\":1,\"two\":2}") != std::string::npos);
  std::size_t sleeping = 0;
  for (std::size_t at = 0; (at = page.find("\"waiting\":\"sleep\"", at)) != std::string::npos; ++at)
    ++sleeping;
  CHECK(sleeping == 10);

  // The coroutine dump names the handler's function in each parked coroutine's backtrace.
  const std::string dump = get(address, "/status?coroutines").body;
  CHECK(dump.find("thread 0:") != std::string::npos);
  CHECK(dump.find("thread 1:") != std::string::npos);
  INFO(dump);
  const auto occurrences = [&dump](const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = 0; (at = dump.find(what, at)) != std::string::npos; at += what.size())
      ++n;
    return n;
  };
  // Every handler still parked (all 10 unless the machine is slow enough for some to have
  // woken by now) has the function in its backtrace.
  const std::size_t parked = occurrences("fastcgi request GET /parked: sleep\n");
  CHECK(parked >= 1);
  // One block per coroutine: its line, then its frames indented. A handler woken meanwhile
  // (now "runnable" or writing) may name the function too, so count per parked block.
  std::size_t parked_with_name = 0;
  std::istringstream lines(dump);
  std::string line, block;
  const auto close_block = [&] {
    if (block.find("fastcgi request GET /parked: sleep\n") != std::string::npos &&
        block.find("status_test_parked_handler") != std::string::npos)
      ++parked_with_name;
    block.clear();
  };
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '\t') close_block();
    block += line + "\n";
  }
  close_block();
  // Both threads dump at once: each walk must begin from its own coroutine's registers (it
  // once showed another thread's connection reader under a parked handler's name).
  CHECK(parked_with_name == parked);

  // Prometheus and OpenMetrics.
  const CgiResponse prom = get(address, "/status?prometheus");
  CHECK(prom.header("Content-Type").value_or("").find("version=0.0.4") != std::string::npos);
  CHECK(prom.body.find(
            "# TYPE cofcgi_accepted_requests_total counter\ncofcgi_accepted_requests_total ") !=
        std::string::npos);
  CHECK(prom.body.find("\ncofcgi_app_two 2\n") != std::string::npos);
  const CgiResponse om = get(address, "/status?openmetrics");
  CHECK(om.body.find("# TYPE cofcgi_accepted_requests counter\ncofcgi_accepted_requests_total ") !=
        std::string::npos);
  CHECK(om.body.size() > 6);
  CHECK(om.body.substr(om.body.size() - 6) == "# EOF\n");

  for (auto& c : conns) CHECK(c->read_reply(1, 20s).complete);
}

TEST_CASE("requests refused with FCGI_OVERLOADED are counted as rejected") {
  co::cgi::ServerOptions o = status_options();
  o.max_requests_in_flight = 2;
  RunningServer server(o, [](co::cgi::Request&, co::cgi::Response& response) {
    status_test_parked_handler(response);
  });
  server.start();
  FcgiConn first(server.address);
  first.send(whole_request(1, cgi_params("GET", "/parked")));
  FcgiConn second(server.address);
  second.send(whole_request(1, cgi_params("GET", "/parked")));
  // Two handlers run: a third request (the page's own poll would be one) is refused.
  for (int i = 0; i < 200; ++i) {
    FcgiConn probe(server.address);
    const FcgiReply r = probe.request(1, cgi_params("GET", "/status?json"), {}, false, 10s);
    if (r.protocol_status == 3) break;  // FCGI_OVERLOADED: both handlers run
    std::this_thread::sleep_for(10ms);
  }
  CHECK(first.read_reply(1, 20s).complete);
  CHECK(second.read_reply(1, 20s).complete);
  const std::string page = get(server.address, "/status?json").body;
  INFO(page);
  CHECK(json_number(page, "rejected_requests") >= 1);
  CHECK(json_number(page, "max_requests_in_flight") == 2);
}

TEST_CASE("the accept queue's length and size, TCP and unix, from the kernel") {
  TempDir dir;
  for (const bool tcp : {true, false}) {
    CAPTURE(tcp);
    co::UniqueFd listener(::socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(listener);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (tcp) {
      auto& in = reinterpret_cast<sockaddr_in&>(addr);
      in.sin_family = AF_INET;
      in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof in;
    } else {
      auto& un = reinterpret_cast<sockaddr_un&>(addr);
      un.sun_family = AF_UNIX;
      const std::string path = dir.path() + "/q.sock";
      path.copy(un.sun_path, sizeof un.sun_path - 1);
      len = sizeof un;
    }
    REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(::listen(listener.get(), 7) == 0);
    len = sizeof addr;
    REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    std::vector<co::UniqueFd> clients;
    for (int i = 0; i < 3; ++i) {
      clients.emplace_back(::socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      REQUIRE(::connect(clients.back().get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
    }
    const auto queue = co::cgi::detail::listen_queue_of(listener.get());
    REQUIRE(queue.has_value());
    CHECK(queue->length == 3);
    CHECK(queue->capacity == 7);
  }
}

TEST_CASE("the status page shows the accept queue's size (the backlog)") {
  co::cgi::ServerOptions o = status_options();
  o.backlog = 77;
  RunningServer server(o, [](co::cgi::Request&, co::cgi::Response& response) { response << "x"; });
  server.start();
  const std::string page = get(server.address, "/status?json").body;
  INFO(page);
  CHECK(json_number(page, "listen_queue_capacity") == 77);
  CHECK(json_number(page, "listen_queue") == 0);
  CHECK(json_number(page, "max_listen_queue") >= 0);
  CHECK(page.find("\"start_time\":\"20") != std::string::npos);
}

TEST_CASE("a request cancelled at request_timeout is counted as timed out") {
  co::cgi::ServerOptions o = status_options();
  o.request_timeout = 200ms;
  RunningServer server(o, [](co::cgi::Request&, co::cgi::Response& response) {
    status_test_parked_handler(response);  // sleeps past the deadline: 504
  });
  server.start();
  CHECK(get(server.address, "/late").status == 504);
  const std::string page = get(server.address, "/status?json").body;
  INFO(page);
  CHECK(json_number(page, "timed_out_requests") == 1);
  CHECK(json_number(page, "accepted_requests") == 2);
}

#if defined(COFCGI_HELLO_EXE)
TEST_CASE("with worker processes the page sums every worker's counters") {
  TempDir dir;
  App app = start_app(COFCGI_HELLO_EXE, "127.0.0.1:0",
                      {"--workers", "2", "--status-path", "/status"}, dir.path() + "/app.log");
  // New connections go to whichever worker accepts first: over 40, both serve some.
  for (int i = 0; i < 40; ++i) CHECK(get(app.address, "/hello").status == 200);
  const std::string page = wait_for_json(
      app.address, "", [](const std::string& p) { return json_number(p, "workers") == 2; });
  INFO(page);
  CHECK(json_number(page, "workers") == 2);
  // Each worker counts only what it served; 40 + this page are in the sum only if both
  // workers' slots are added up.
  CHECK(json_number(page, "accepted_requests") >= 41);
  CHECK(json_number(page, "accepted_connections") >= 41);
}
#endif

namespace {

// status_listen_options: the app on TCP, the status listener on a unix socket of this test's.
co::cgi::ServerOptions status_listen_options(const std::string& status_socket) {
  co::cgi::ServerOptions o = status_options();
  o.status_listen = "unix:" + status_socket;
  return o;
}

std::string status_socket_path(const char* name) {
  return "/tmp/cofcgi-status-listen-" + std::to_string(::getpid()) + "-" + name + ".sock";
}

}  // namespace

TEST_CASE("status_listen answers while max_requests_in_flight is reached, not counted there") {
  const std::string socket = status_socket_path("overloaded");
  co::cgi::ServerOptions o = status_listen_options(socket);
  o.max_requests_in_flight = 2;
  RunningServer server(o, [](co::cgi::Request&, co::cgi::Response& response) {
    status_test_parked_handler(response);
  });
  server.start();
  const std::string status = "unix:" + socket;
  FcgiConn first(server.address);
  first.send(whole_request(1, cgi_params("GET", "/parked")));
  FcgiConn second(server.address);
  second.send(whole_request(1, cgi_params("GET", "/parked")));
  // Any path on the status listener is the status page.
  const std::string page = wait_for_json(
      status, "", [](const std::string& p) { return json_number(p, "requests_in_flight") == 2; });
  INFO(page);
  CHECK(json_number(page, "requests_in_flight") == 2);
  // The app's own socket refuses: its two handlers run.
  FcgiConn probe(server.address);
  const FcgiReply refused = probe.request(1, cgi_params("GET", "/status?json"), {}, false, 10s);
  CHECK(refused.protocol_status == 2);  // FCGI_OVERLOADED
  // The status listener still answers, ping and page, and its requests are not counted.
  CHECK(get(status, "/ping").body == "pong\n");
  const std::string again = get(status, "/anything?json").body;
  INFO(again);
  CHECK(json_number(again, "requests_in_flight") == 2);
  CHECK(json_number(again, "max_requests_in_flight") == 2);
  CHECK(first.read_reply(1, 20s).complete);
  CHECK(second.read_reply(1, 20s).complete);
}

TEST_CASE("status_listen answers while a handler spins on the only app thread") {
  if (under_sanitizer()) {
    MESSAGE("skipped under a sanitizer: a timing bound");
    return;
  }
  const std::string socket = status_socket_path("spinning");
  RunningServer server(status_listen_options(socket),
                       [](co::cgi::Request&, co::cgi::Response& response) {
                         // CPU-bound for 2 s: the thread never switches meanwhile.
                         const auto until = std::chrono::steady_clock::now() + 2s;
                         while (std::chrono::steady_clock::now() < until) {
                         }
                         response << "spun\n";
                       });
  server.start();
  const std::string status = "unix:" + socket;
  FcgiConn spinning(server.address);
  spinning.send(whole_request(1, cgi_params("GET", "/spin")));
  const std::string page = wait_for_json(
      status, "", [](const std::string& p) { return json_number(p, "requests_in_flight") == 1; });
  REQUIRE(json_number(page, "requests_in_flight") == 1);
  const auto start = std::chrono::steady_clock::now();
  const std::string during = get(status, "/status?json").body;
  const long long took = ms_since(start);
  INFO(during);
  CHECK(json_number(during, "requests_in_flight") == 1);
  MESSAGE("the status listener answered in " << took << " ms");
  CHECK(took < 1000);
  CHECK(get(status, "/ping").body == "pong\n");
  CHECK(spinning.read_reply(1, 20s).complete);
}

TEST_CASE("status_listen with worker processes is refused with a clear error") {
  co::cgi::ServerOptions o = status_listen_options(status_socket_path("workers"));
  o.workers = 2;
  CHECK_THROWS_WITH_AS(co::cgi::Server(o, [](co::cgi::Request&, co::cgi::Response&) {}),
                       "status_listen needs workers 0 (a single process)", std::invalid_argument);
}
