// A libcurl transfer cut short by cancellation or a deadline (cofcgi/runtime/cancel.h): the
// request went out to a local server that never answers; cancelling the coroutine makes
// curl_easy_perform return at once with an error (its poll() fails with ECANCELED), and after
// curl_easy_cleanup nothing is left: no fd, coroutine or timer (memory: LeakSanitizer in the
// ASan pass).
#include <curl/curl.h>
#include <doctest/doctest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "cofcgi/runtime.h"
#include "leak_check.h"
#include "tls_test_util.h"

using namespace std::chrono_literals;
using tls_test::seconds_since;

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

// SilentServer: reads the request, then answers nothing until its client goes (or 5 s).
struct SilentServer {
  std::atomic<bool> request_seen{false};
  std::atomic<int> done{0};
  tls_test::ServerThread thread{[this](int fd) {
    char buf[4096];
    if (::read(fd, buf, sizeof buf) > 0) request_seen = true;
    pollfd p{fd, POLLIN, 0};
    (void)::poll(&p, 1, 5000);  // readable at EOF: the client closed
    ::close(fd);
    ++done;
  }};
  void wait_done() {
    for (int i = 0; i < 1000 && done.load() == 0; ++i) std::this_thread::sleep_for(5ms);
  }
};

struct Transfer {
  CURLcode code = CURLE_OK;
  std::string error;
  double after = 0;
};

Transfer perform(const std::string& url) {
  Transfer t;
  char errbuf[CURL_ERROR_SIZE] = "";
  CURL* h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  const co::Deadline start = co::now_ns();
  t.code = curl_easy_perform(h);
  t.after = seconds_since(start);
  t.error = errbuf;
  curl_easy_cleanup(h);
  return t;
}

}  // namespace

TEST_CASE(
    "curl cancel: a transfer cancelled while the server is silent returns at once and "
    "leaves nothing behind") {
  CurlGlobal global;
  SilentServer server;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.thread.port()) + "/slow";
  Transfer t;
  bool request_seen_before = false;
  {
    cofcgi_test::LeakCheck leaks;
    co::CancelHandle handle;
    co::go([&] {
      handle = co::CancelHandle::current();
      t = perform(url);
    });
    co::go([&] {
      for (int i = 0; i < 400 && !server.request_seen; ++i) co::sleep_for(5ms);
      request_seen_before = server.request_seen;
      handle.cancel();
    });
    co::run();
    server.wait_done();
  }
  MESSAGE("cancelled transfer: CURLcode " << static_cast<int>(t.code) << " "
                                          << std::string(curl_easy_strerror(t.code)) << " ("
                                          << t.error << ") after " << t.after << " s");
  CHECK(request_seen_before);
  // libcurl 7.88 reports a failed poll() as CURLE_BAD_FUNCTION_ARGUMENT with an empty error
  // buffer: co::cancelled() / co::interruption() tell the caller why.
  CHECK(t.code != CURLE_OK);
  CHECK(t.after < 2.0);
  CHECK(server.done.load() == 1);
}

TEST_CASE("curl cancel: a DeadlineScope ends a silent transfer in time") {
  CurlGlobal global;
  SilentServer server;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.thread.port()) + "/slow";
  Transfer t;
  {
    cofcgi_test::LeakCheck leaks;
    co::go([&] {
      co::DeadlineScope deadline(150ms);
      t = perform(url);
    });
    co::run();
    server.wait_done();
  }
  MESSAGE("transfer past its deadline: CURLcode " << static_cast<int>(t.code) << " "
                                                  << std::string(curl_easy_strerror(t.code)) << " ("
                                                  << t.error << ") after " << t.after << " s");
  CHECK(t.code != CURLE_OK);
  CHECK(t.after >= 0.14);
  CHECK(t.after < 2.0);
}
