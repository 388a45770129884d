// cgi_test_server: a FastCGI app for the tests that need a child process (sigterm_test,
// operations_test). Takes the examples' options (--listen, --threads, --max-body, ...).
//   /slow?ms=N                 sleeps N ms (parking only its coroutine), then answers
//                              "slow done N\n"
//   /throw-after-stream?kb=N   writes and flushes N KiB of 'x', then throws
//                              std::runtime_error: a response cut short after its headers
//   /throw                     throws std::runtime_error before sending anything: a 500
//   /bad-header                sets a header value with a CR LF in it: a 500
//   /overflow?depth=N          recurses N frames of 1 KiB each (default 100000): overflows
//                              any handler stack the tests use
//   /pid                       answers "pid N\n": which worker process served (tests/ops)
//   /abort                     calls abort(): a worker that crashes (tests/ops)
//   anything else answers "ok PATH\n"
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "cofcgi/cgi/server.h"
#include "cofcgi/runtime/sleep.h"

namespace {

// recurse: 1 KiB of stack per frame, kept (volatile, and read after the call returns) so
// the compiler can neither drop the array nor turn the recursion into a loop.
[[gnu::noinline]] long recurse(long depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  frame[sizeof frame - 1] = static_cast<char>(depth >> 8);
  if (depth <= 0) return frame[0];
  return recurse(depth - 1) + frame[0] + frame[sizeof frame - 1];
}

void handle(co::cgi::Request& request, co::cgi::Response& response) {
  response.set_content_type("text/plain");
  if (request.path() == "/slow") {
    const long ms = std::stol(request.query("ms").value_or("1000"));
    co::sleep_for(std::chrono::milliseconds(ms));
    response << "slow done " << std::to_string(ms) << "\n";
    return;
  }
  if (request.path() == "/throw-after-stream") {
    const long kb = std::stol(request.query("kb").value_or("40"));
    response << std::string(static_cast<std::size_t>(kb) * 1024, 'x');
    response.flush();
    throw std::runtime_error("thrown on purpose after " + std::to_string(kb) + " KiB");
  }
  if (request.path() == "/throw") throw std::runtime_error("thrown on purpose");
  if (request.path() == "/bad-header") {
    response.set_header("X-Bad", "a\r\nInjected: yes");
    return;
  }
  if (request.path() == "/overflow") {
    const long depth = std::stol(request.query("depth").value_or("100000"));
    response << "depth " << std::to_string(recurse(depth)) << "\n";
    return;
  }
  if (request.path() == "/pid") {
    response << "pid " << std::to_string(::getpid()) << "\n";
    return;
  }
  if (request.path() == "/abort") std::abort();
  response << "ok " << request.path() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    co::cgi::Server server(co::cgi::parse_server_args(argc, argv), handle);
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cgi_test_server: %s\n", e.what());
    return 2;
  }
}
