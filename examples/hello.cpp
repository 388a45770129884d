// hello: answers every request "Hello, World!" (the DESIGN.md example contract).
//   hello --listen 127.0.0.1:9000 --threads 1
#include <cstdio>
#include <exception>

#include "cofcgi/cgi/server.h"

int main(int argc, char** argv) {
  try {
    co::cgi::Server server(co::cgi::parse_server_args(argc, argv),
                           [](co::cgi::Request&, co::cgi::Response& response) {
                             response.set_content_type("text/plain");
                             response << "Hello, World!\n";
                           });
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hello: %s\n", e.what());
    return 2;
  }
}
