// A FastCGI app that also uses the adapters (the README's sleep_sql shape, without a
// database to talk to): linked with cofcgi::cgi and cofcgi::adapters. libcofcgi_adapters
// needs libcofcgi_hooks and libcofcgi_runtime, which the executable itself never names.
#include <cstdio>
#include <exception>

#include "cofcgi/adapters/mysql.h"
#include "cofcgi/cgi/server.h"

int main(int argc, char** argv) {
  try {
    co::mysql::library_init();  // libmariadb's process-wide set-up: no server needed
    co::cgi::Server server(co::cgi::parse_server_args(argc, argv),
                           [](co::cgi::Request&, co::cgi::Response& response) {
                             response.set_content_type("text/plain");
                             response << "adapters_app: OK\n";
                           });
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "adapters_app: %s\n", e.what());
    return 2;
  }
}
