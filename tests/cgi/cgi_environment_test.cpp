// Legacy CGI code in handlers: getenv() sees this request's params, per coroutine (needs the
// hooks layer, which this test binary links).
#include <doctest/doctest.h>
#include <stdlib.h>

#include <string>
#include <thread>
#include <vector>

#include "cgi_test_util.h"
#include "cofcgi/cgi/server.h"
#include "cofcgi/runtime/sleep.h"

using namespace cgi_test;

TEST_CASE("cgi_environment: concurrent handlers each getenv their own QUERY_STRING") {
  co::cgi::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.cgi_environment = true;
  InProcessServer server(options, [](co::cgi::Request& request, co::cgi::Response& response) {
    const std::string before = getenv("QUERY_STRING") ? getenv("QUERY_STRING") : "(unset)";
    // Park while other requests set theirs: the value must still be ours afterwards.
    co::sleep_for(std::chrono::milliseconds(request.query("wait") ? 150 : 10));
    const char* after = getenv("QUERY_STRING");
    const char* method = getenv("REQUEST_METHOD");
    response.set_content_type("text/plain");
    response << before << "|" << (after ? after : "(unset)") << "|"
             << (method ? method : "(unset)");
  });
  std::vector<std::thread> clients;
  std::vector<std::string> bodies(8);
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      FcgiConn conn(server.address());
      const std::string query = "n=" + std::to_string(i) + "&wait=1";
      Pairs params = cgi_params("GET", "/env?" + query);
      const FcgiReply reply = conn.request(1, params);
      bodies[i] = parse_cgi_response(reply.out).body;
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < 8; ++i) {
    const std::string query = "n=" + std::to_string(i) + "&wait=1";
    CHECK(bodies[i] == query + "|" + query + "|GET");
  }
  // The process environment was never touched.
  CHECK(getenv("QUERY_STRING") == nullptr);
  CHECK(server.stop_and_join() == 0);
}
