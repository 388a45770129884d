// A TLS server in coroutines: accept on a blocking listener, then each connection in its own
// co::go coroutine runs SSL_accept / SSL_read / 300 ms pause / SSL_write / SSL_shutdown on
// its blocking socket, all in the main thread. Its clients, all at once: the real
// `openssl s_client` (a separate process) and 50 client threads of this process doing plain
// blocking OpenSSL (threads with no scheduler: the hooks pass their calls through). Every
// answer is right, all of them come in about one pause, not 51, and the server's thread never
// sat in a blocking system call (BlockWatch).
#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "cofcgi/adapters/tls.h"
#include "cofcgi/runtime.h"
#include "tls_test_util.h"

using namespace std::chrono_literals;
using tls_test::seconds_since;

namespace {

constexpr int kThreadClients = 50;

struct ServerStats {
  int served = 0;
  int failed = 0;
  int in_handler = 0;
  int max_in_handler = 0;
  std::string first_error;
};

// handle: one connection, in its own coroutine. Plain OpenSSL on the blocking socket.
void handle(SSL_CTX* ctx, int fd, ServerStats* stats) {
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  auto fail = [&](const char* what) {
    ++stats->failed;
    if (stats->first_error.empty())
      stats->first_error = std::string(what) + ": " + co::tls::take_errors();
    ERR_clear_error();
  };
  ERR_clear_error();
  if (SSL_accept(ssl) != 1) {
    fail("SSL_accept");
  } else {
    std::string line;
    char c;
    int n = 0;
    ERR_clear_error();
    while (line.size() < 1024 && (n = SSL_read(ssl, &c, 1)) == 1) {
      line.push_back(c);
      if (c == '\n') break;
    }
    if (line.empty() || line.back() != '\n') {
      fail("SSL_read");
    } else {
      stats->max_in_handler = std::max(stats->max_in_handler, ++stats->in_handler);
      ::usleep(300'000);  // a slow handler, written as blocking code
      --stats->in_handler;
      const std::string answer = "echo: " + line;
      ERR_clear_error();
      if (SSL_write(ssl, answer.data(), static_cast<int>(answer.size())) <= 0) {
        fail("SSL_write");
      } else {
        SSL_shutdown(ssl);
        ++stats->served;
      }
    }
  }
  SSL_free(ssl);
  ::close(fd);
}

struct ClientsRun {
  std::string s_client_output;
  int s_client_status = -1;
  double s_client_seconds = 0;
  std::atomic<int> thread_ok{0};
  std::atomic<int> thread_failed{0};
  std::string first_thread_error;  // written by thread 0's failure path only... guarded below
  std::atomic<bool> have_error{false};
  double seconds = 0;
};

// thread_client: plain blocking co::tls client on a thread without a scheduler, verifying
// the server's certificate and name.
void thread_client(SSL_CTX* ctx, std::uint16_t port, int i, ClientsRun* run) {
  try {
    const int fd = tls_test::connect_loopback(port);
    if (fd < 0) throw std::runtime_error("connect failed");
    co::tls::Stream s = co::tls::Stream::connect(ctx, fd, "localhost");
    const std::string request = "thread client " + std::to_string(i) + "\n";
    s.write(request);
    std::string reply;
    char buf[256];
    while (const size_t n = s.read(buf, sizeof buf)) reply.append(buf, n);
    s.shutdown();
    if (reply != "echo: " + request) throw std::runtime_error("wrong reply: " + reply);
    ++run->thread_ok;
  } catch (const std::exception& e) {
    ++run->thread_failed;
    if (!run->have_error.exchange(true)) run->first_thread_error = e.what();
  }
}

// run_clients: on a helper thread, starts `openssl s_client` and the client threads together
// and waits for all of them.
void run_clients(const tls_test::Cert& cert, SSL_CTX* client_ctx, std::uint16_t port,
                 ClientsRun* run) {
  const co::Deadline start = co::now_ns();
  // -quiet prints only the application data and implies -ign_eof: s_client sends the line,
  // keeps reading after its stdin ends, and exits when the server closes. Its own
  // verification of the certificate goes to stderr, kept in the temp dir.
  const std::string cmd =
      "printf 's_client says hi\\n' | openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
      " -quiet -CAfile '" + cert.cert_file() +
      "' -verify_return_error -verify_hostname localhost 2>'" + cert.dir() + "/s_client.err'";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreadClients; ++i)
    threads.emplace_back(thread_client, client_ctx, port, i, run);
  if (p != nullptr) {
    char buf[512];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) run->s_client_output.append(buf, n);
    run->s_client_status = ::pclose(p);
    run->s_client_seconds = seconds_since(start);
  }
  for (auto& t : threads) t.join();
  run->seconds = seconds_since(start);
}

std::string read_text(const std::string& path) {
  std::string out;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[512];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

}  // namespace

TEST_CASE("tls server: coroutines serve openssl s_client and 50 client threads at once") {
  tls_test::Cert cert;
  co::tls::Ctx server_ctx = co::tls::server_context(cert.cert_file(), cert.key_file());
  co::tls::Ctx client_ctx =
      co::tls::client_context({.verify_peer = true, .ca_file = cert.cert_file()});
  std::uint16_t port = 0;
  const int listener = tls_test::listen_loopback(&port);
  ServerStats stats;
  ClientsRun run;
  int accepted = 0;
  const std::thread::id main_thread = std::this_thread::get_id();
  int off_thread = 0;

  co::go([&] {
    for (;;) {
      const int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);  // parks this coroutine
      if (c < 0) break;                                                   // EBADF: closed below
      ++accepted;
      co::go([&, c] {
        if (std::this_thread::get_id() != main_thread) ++off_thread;
        handle(server_ctx.get(), c, &stats);
      });
    }
  });
  // The clients run on a helper thread; when they are all done it tells this thread's
  // scheduler to close the listener, so the accept loop ends and co::run() returns.
  const co::Executor executor = co::Executor::current();
  tls_test::BlockWatch watch;  // the server's thread
  std::thread clients([&] {
    run_clients(cert, client_ctx.get(), port, &run);
    executor.post([listener] { ::close(listener); });
  });
  co::run();
  watch.stop();
  clients.join();

  INFO("server error: " << stats.first_error);
  INFO("client thread error: " << run.first_thread_error);
  INFO("s_client stderr: " << read_text(cert.dir() + "/s_client.err"));
  CHECK(run.s_client_status == 0);
  CHECK(run.s_client_output == "echo: s_client says hi\n");
  CHECK(run.thread_ok == kThreadClients);
  CHECK(run.thread_failed == 0);
  CHECK(accepted == kThreadClients + 1);
  CHECK(stats.served == kThreadClients + 1);
  CHECK(stats.failed == 0);
  CHECK(off_thread == 0);
  INFO("server thread blocked: " << watch.describe());
  CHECK(watch.longest_ms() < 150.0);  // the 300 ms handler pauses and all I/O parked
  CHECK(stats.max_in_handler >= kThreadClients * 9 / 10);
  CHECK(run.seconds >= 0.3);
  CHECK(run.seconds < 2.0);  // one handler at a time: 51 x 0.3 s = 15.3 s
  MESSAGE("coroutine TLS server, 300 ms per request: s_client + "
          << kThreadClients << " client threads in " << run.seconds << " s (s_client alone "
          << run.s_client_seconds << " s); " << stats.max_in_handler << " handlers at once");
}
