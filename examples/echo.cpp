// echo: answers "METHOD URI\n" followed by the request body byte for byte, streamed as it
// arrives; a body over --max-body is answered 413.
//   echo --listen unix:/tmp/echo.sock --max-body 10485760
#include <cstdio>
#include <exception>
#include <string>

#include "cofcgi/cgi/server.h"

int main(int argc, char** argv) {
  try {
    co::cgi::Server server(co::cgi::parse_server_args(argc, argv),
                           [](co::cgi::Request& request, co::cgi::Response& response) {
                             response.set_content_type("text/plain");
                             std::string line(request.method());
                             line += ' ';
                             line += request.uri();
                             line += '\n';
                             response << line;
                             char chunk[16 * 1024];
                             while (const std::size_t n = request.read_body(chunk, sizeof chunk)) {
                               response.write(std::string_view(chunk, n));
                             }
                           });
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo: %s\n", e.what());
    return 2;
  }
}
