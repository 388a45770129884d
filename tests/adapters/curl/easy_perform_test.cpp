// libcurl, unchanged, in coroutines: 50 curl_easy_perform transfers, each in its own
// co::go coroutine of ONE thread, from a local server that answers each request after
// 300 ms (its own thread and scheduler, a coroutine per connection). curl_easy_perform drives
// a private multi handle and waits in poll() on its sockets and its wake-up socketpair; the
// hooks park the coroutine there, so the 50 transfers take about one pause (serial: 15 s).
// A BlockWatch shows the thread itself never sat in a blocking system call.
//
// Cases: plain HTTP to 127.0.0.1 (no name resolution at all: curl turns an IP literal into an
// address itself); HTTPS (libcurl's OpenSSL backend; curl's own non-blocking socket and BIO,
// so the hooks see EAGAIN and curl's poll); and a host name from /etc/hosts, which Debian's
// libcurl resolves on a resolver thread of its own (no scheduler there: glibc's getaddrinfo,
// passed through) while the coroutine parks in poll() on the socketpair that thread signals.
#include <curl/curl.h>
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "cofcgi/adapters/tls.h"
#include "cofcgi/runtime.h"
#include "curl_test_util.h"
#include "leak_check.h"
#include "tls_test_util.h"

using namespace std::chrono_literals;
using tls_test::seconds_since;

namespace {

constexpr int kTransfers = 50;

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

struct ServerStats {
  std::atomic<int> served{0};
  std::atomic<int> failed{0};
  std::atomic<int> in_handler{0};
  std::atomic<int> max_in_handler{0};
};

// respond: read one request (up to the blank line), wait 300 ms, answer "hello <path>".
// Transport: read(buf, n) -> bytes (0 at end) and write(string).
template <typename Read, typename Write>
void respond(Read read, Write write, ServerStats* stats) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos) {
    const long n = read(buf, sizeof buf);
    if (n <= 0) {
      ++stats->failed;
      return;
    }
    request.append(buf, static_cast<size_t>(n));
  }
  std::string path = "?";
  if (request.rfind("GET ", 0) == 0) path = request.substr(4, request.find(' ', 4) - 4);
  tls_test::update_max(stats->max_in_handler, ++stats->in_handler);
  ::usleep(300'000);  // slow, blocking-style handler
  --stats->in_handler;
  const std::string body = "hello " + path + "\n";
  write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  ++stats->served;
}

tls_test::ServerThread::Handler http_server(ServerStats* stats) {
  return [stats](int fd) {
    respond([fd](char* b, size_t n) { return static_cast<long>(::read(fd, b, n)); },
            [fd](const std::string& s) {
              size_t off = 0;
              while (off < s.size()) {
                const ssize_t w = ::write(fd, s.data() + off, s.size() - off);
                if (w <= 0) return;
                off += static_cast<size_t>(w);
              }
            },
            stats);
    ::close(fd);
  };
}

tls_test::ServerThread::Handler https_server(SSL_CTX* ctx, ServerStats* stats) {
  return [ctx, stats](int fd) {
    try {
      co::tls::Stream s = co::tls::Stream::accept(ctx, fd);
      respond([&s](char* b, size_t n) { return static_cast<long>(s.read(b, n)); },
              [&s](const std::string& text) { s.write(text); }, stats);
      s.shutdown();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "https server: %s\n", e.what());
      ++stats->failed;
    }
  };
}

size_t append_body(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

struct Results {
  int ok = 0;
  int failed = 0;
  int wrong_thread = 0;
  std::string first_error;
};

// fetch is ordinary libcurl easy-interface code.
void fetch(const std::string& url, const std::string& ca_file, const std::string& expected_body,
           std::thread::id main_thread, Results* res) {
  CURL* h = curl_easy_init();
  if (h == nullptr) {
    ++res->failed;
    return;
  }
  std::string body;
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  if (!ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_file.c_str());
  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);
  if (std::this_thread::get_id() != main_thread) ++res->wrong_thread;
  if (rc == CURLE_OK && status == 200 && body == expected_body) {
    ++res->ok;
    return;
  }
  ++res->failed;
  if (res->first_error.empty()) {
    res->first_error = url + ": " + curl_easy_strerror(rc) + " (" + errbuf + "), status " +
                       std::to_string(status) + ", body '" + body + "'";
  }
}

struct Run {
  Results res;
  double seconds = 0;
  double max_gap_ms = 0;
  std::string blocked;  // BlockWatch::describe()
  double blocked_ms = 0;
  int joins = 0;  // pthread_join calls inside the coroutines (resolver threads)
  double longest_join_ms = 0;
};

// run_transfers: kTransfers coroutines of this thread, each one curl_easy_perform of
// scheme://host:port/i; a ticker measures the thread's longest stall, a BlockWatch its
// longest blocking system call.
Run run_transfers(const std::string& scheme, const std::string& host, std::uint16_t port,
                  const std::string& ca_file) {
  Run run;
  const std::thread::id main_thread = std::this_thread::get_id();
  tls_test::Ticker ticker;
  curl_test::reset_join_stats();
  tls_test::BlockWatch watch;
  ticker.start();
  co::WaitGroup wg;
  const co::Deadline start = co::now_ns();
  for (int i = 0; i < kTransfers; ++i) {
    wg.add();
    co::go([&, i] {
      const std::string path = "/item/" + std::to_string(i);
      fetch(scheme + "://" + host + ":" + std::to_string(port) + path, ca_file,
            "hello " + path + "\n", main_thread, &run.res);
      wg.done();
    });
  }
  co::go([&] {
    wg.wait();
    run.seconds = seconds_since(start);
    ticker.stop();
  });
  co::run();
  watch.stop();
  run.max_gap_ms = ticker.max_gap_ms();
  run.blocked = watch.describe();
  run.blocked_ms = watch.longest_ms();
  run.joins = curl_test::coroutine_joins();
  run.longest_join_ms = curl_test::longest_coroutine_join_ms();
  return run;
}

void check_run(const Run& run, const ServerStats& stats, const std::string& what) {
  INFO(what << ": first error: " << run.res.first_error);
  CHECK(run.res.ok == kTransfers);
  CHECK(run.res.failed == 0);
  CHECK(run.res.wrong_thread == 0);
  CHECK(stats.served == kTransfers);
  CHECK(stats.failed == 0);
  CHECK(stats.max_in_handler >= kTransfers * 9 / 10);
  CHECK(run.seconds >= 0.3);
  CHECK(run.seconds < 2.0);  // serial: 50 x 0.3 s = 15 s
  INFO("thread blocked: " << run.blocked);
  CHECK(run.blocked_ms < 150.0);  // the thread never sat in a blocking call
  MESSAGE(what << ": " << kTransfers
               << " concurrent curl_easy_perform (coroutines, one thread) of a 300 ms server: "
               << run.seconds << " s; server saw " << stats.max_in_handler.load()
               << " at once; longest stretch without the ticker " << run.max_gap_ms
               << " ms; longest blocking call " << run.blocked << "; " << run.joins
               << " pthread_join in coroutines, longest " << run.longest_join_ms << " ms");
}

// hosts_alias_for_loopback: a name other than localhost that /etc/hosts maps to 127.0.0.1
// (so glibc answers from the file: no DNS traffic), or "".
std::string hosts_alias_for_loopback() {
  std::ifstream hosts("/etc/hosts");
  std::string line;
  while (std::getline(hosts, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string addr, name;
    if (!(words >> addr) || addr != "127.0.0.1") continue;
    while (words >> name) {
      if (name != "localhost" && name.find("localhost") == std::string::npos) return name;
    }
  }
  return "";
}

}  // namespace

TEST_CASE("curl: 50 concurrent curl_easy_perform over HTTP to 127.0.0.1 in one thread") {
  CurlGlobal curl;
  ServerStats stats;
  Run run;
  {
    cofcgi_test::LeakCheck leaks;
    tls_test::ServerThread server(http_server(&stats));
    run = run_transfers("http", "127.0.0.1", server.port(), "");
    server.stop();
  }
  check_run(run, stats, "http://127.0.0.1");
  CHECK(run.joins == 0);  // no resolver thread for an IP literal
}

TEST_CASE(
    "curl: 50 concurrent curl_easy_perform over HTTPS (libcurl's OpenSSL backend) in one thread") {
  CurlGlobal curl;
  tls_test::Cert cert;
  co::tls::Ctx server_ctx = co::tls::server_context_pem(cert.cert_pem(), cert.key_pem());
  ServerStats stats;
  Run run;
  {
    tls_test::ServerThread server(https_server(server_ctx.get(), &stats));
    // The certificate names IP:127.0.0.1, so curl verifies it fully (CURLOPT_CAINFO).
    run = run_transfers("https", "127.0.0.1", server.port(), cert.cert_file());
    server.stop();
  }
  check_run(run, stats, "https://127.0.0.1");
}

TEST_CASE("curl: 50 concurrent transfers to a name, resolved by libcurl's resolver threads") {
  const std::string name = hosts_alias_for_loopback();
  if (name.empty()) {
    MESSAGE("skipped: /etc/hosts has no name other than localhost for 127.0.0.1");
    return;
  }
  CurlGlobal curl;
  ServerStats stats;
  Run run;
  {
    tls_test::ServerThread server(http_server(&stats));
    run = run_transfers("http", name, server.port(), "");
    server.stop();
  }
  check_run(run, stats, "http://" + name);
  CHECK(run.joins == kTransfers);  // a resolver thread per transfer, joined when it is done
  MESSAGE("curl_version: " << std::string(curl_version()));
}
