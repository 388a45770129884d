// A FastCGI app as a user writes it, linked with cofcgi::cgi alone (or `pkg-config
// cofcgi-cgi`). It names only co::cgi symbols, so with --as-needed the executable has no
// DT_NEEDED on libcofcgi_runtime: the loader finds the runtime through libcofcgi_cgi's own
// RUNPATH ($ORIGIN) or not at all. run_install_test.sh serves one request with cgi-fcgi.
#include <cstdio>
#include <exception>

#include "cofcgi/cgi/server.h"

int main(int argc, char** argv) {
  try {
    co::cgi::Server server(co::cgi::parse_server_args(argc, argv),
                           [](co::cgi::Request&, co::cgi::Response& response) {
                             response.set_content_type("text/plain");
                             response << "cgi_app: OK\n";
                           });
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cgi_app: %s\n", e.what());
    return 2;
  }
}
