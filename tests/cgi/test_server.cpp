// cgi_test_server: a FastCGI app for the tests that need a child process (sigterm_test).
// Takes the examples' options (--listen, --threads, --max-body).
//   /slow?ms=N   sleeps N ms (parking only its coroutine), then answers "slow done N\n"
//   anything else answers "ok PATH\n"
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include "cofcgi/cgi/server.h"
#include "cofcgi/runtime/sleep.h"

int main(int argc, char** argv) {
  try {
    co::cgi::Server server(co::cgi::parse_server_args(argc, argv),
                               [](co::cgi::Request& request, co::cgi::Response& response) {
                                 response.set_content_type("text/plain");
                                 if (request.path() == "/slow") {
                                   const long ms = std::stol(request.query("ms").value_or("1000"));
                                   co::sleep_for(std::chrono::milliseconds(ms));
                                   response << "slow done " << std::to_string(ms) << "\n";
                                   return;
                                 }
                                 response << "ok " << request.path() << "\n";
                               });
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cgi_test_server: %s\n", e.what());
    return 2;
  }
}
