// libmariadb's own timeouts under the hooks: MYSQL_OPT_READ_TIMEOUT ends a long query after
// ~1 s and MYSQL_OPT_CONNECT_TIMEOUT ends a connect to a blackhole listener after ~1 s, while
// the thread's other coroutines (a ticker, a coroutine running queries) keep running.
#include <doctest/doctest.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

// Blackhole: a loopback listener nobody accepts from, its accept queue full (backlog 0,
// filled by our own connections), so the kernel drops further SYNs and a connect to it
// hangs until the client's timeout.
class Blackhole {
 public:
  Blackhole() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_, 0) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    // Fill the queue: connects that complete (queued) until one does not.
    for (int i = 0; i < 8; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      REQUIRE(fd >= 0);
      fillers_.push_back(fd);
      const int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      if (r != 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 1000) == 0) break;  // this one hangs: the queue is full
      }
    }
    // The listener's accept queue is at its limit (TCP_INFO on a listener: tcpi_unacked is
    // the queue length, tcpi_sacked its backlog).
    tcp_info info{};
    socklen_t len_info = sizeof info;
    REQUIRE(::getsockopt(listener_, IPPROTO_TCP, TCP_INFO, &info, &len_info) == 0);
    CHECK(info.tcpi_unacked > info.tcpi_sacked);
  }
  ~Blackhole() {
    for (int fd : fillers_) ::close(fd);
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

}  // namespace

TEST_CASE(
    "MYSQL_OPT_READ_TIMEOUT: SELECT SLEEP(3) with a 1 s read timeout fails after ~1 s; others run "
    "on") {
  server();
  for (Transport t : {Transport::tcp, Transport::unix_localhost}) {
    const std::string transport = name(t);
    CAPTURE(transport);
    Ticker ticker;
    double failed_after = -1;
    unsigned error_code = 0;
    std::string error_text;
    int other_queries = 0;
    double other_done_at = -1;
    const co::Deadline start = co::now_ns();
    run_coroutines(
        2,
        [&](int role) {
          if (role == 0) {
            MysqlPtr m = connect(t, {.read_timeout = 1});
            const co::Deadline q0 = co::now_ns();
            try {
              co::mysql::query(m.get(), "SELECT SLEEP(3)");
              FAIL_CHECK("SELECT SLEEP(3) returned despite the 1 s read timeout");
            } catch (const co::mysql::Error& e) {
              failed_after = seconds_since(q0);
              error_code = e.code();
              error_text = e.what();
              CHECK(e.connection_broken());
            }
          } else {
            // Meanwhile: ten 50 ms queries on another connection, done long before the
            // timeout fires.
            MysqlPtr m = connect(Transport::unix_default_host, {.read_timeout = 10});
            for (int i = 0; i < 10; ++i) {
              auto r = co::mysql::query(m.get(), "SELECT SLEEP(0.05), " + std::to_string(i));
              CHECK(r.value(0, 1) == std::to_string(i));
              ++other_queries;
            }
            other_done_at = seconds_since(start);
          }
        },
        &ticker);
    MESSAGE(transport, ": read timeout after ", failed_after, " s, error ", error_code, " '",
            error_text, "'; other coroutine done at ", other_done_at, " s; ticker max gap ",
            ticker.max_gap() * 1e3, " ms");
    CHECK(failed_after >= 0.9);
    CHECK(failed_after < 2.0);
    CHECK(error_code == 2013);      // CR_SERVER_LOST: "Lost connection to server during query"
    CHECK(other_queries == 10);     // ran while the timed-out query waited (the ticker too)
    CHECK(ticker.max_gap() < 0.9);  // a blocked wait would be >= 1 s
  }
}

TEST_CASE(
    "MYSQL_OPT_CONNECT_TIMEOUT: connecting to a blackhole listener fails after ~1 s; others run "
    "on") {
  server();
  Blackhole hole;
  Ticker ticker;
  double failed_after = -1;
  std::string error_text;
  unsigned error_code = 0;
  int other_queries = 0;
  run_coroutines(
      2,
      [&](int role) {
        if (role == 0) {
          MYSQL* m = mysql_init(nullptr);
          const unsigned timeout = 1;
          mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
          const co::Deadline t0 = co::now_ns();
          MYSQL* r =
              mysql_real_connect(m, "127.0.0.1", "nobody", "x", nullptr, hole.port(), nullptr, 0);
          failed_after = seconds_since(t0);
          CHECK(r == nullptr);
          error_code = mysql_errno(m);
          error_text = mysql_error(m);
          mysql_close(m);
        } else {
          MysqlPtr m = connect(Transport::tcp, {.read_timeout = 10});
          for (int i = 0; i < 10; ++i) {
            co::mysql::query(m.get(), "SELECT SLEEP(0.05)");
            ++other_queries;
          }
        }
      },
      &ticker);
  MESSAGE("connect timeout after ", failed_after, " s, error ", error_code, " '", error_text,
          "'; ticker max gap ", ticker.max_gap() * 1e3, " ms");
  CHECK(failed_after >= 0.9);
  CHECK(failed_after < 2.5);
  // libmariadb: CR_CONNECTION_ERROR ("Can't connect to server on ... (110)").
  CHECK(error_code == 2002);
  CHECK(other_queries == 10);
  CHECK(ticker.max_gap() < 0.9);  // a blocked wait would be >= 1 s

  // The pool's connect_timeout is the same option: acquire() fails with co::mysql::Error.
  co::mysql::Config c;
  c.host = "127.0.0.1";
  c.port = hole.port();
  c.user = "nobody";
  c.connect_timeout = std::chrono::seconds(1);
  co::mysql::Pool pool(c);
  double pool_failed_after = -1;
  std::string pool_error;
  run_coroutines(1, [&](int) {
    const co::Deadline t0 = co::now_ns();
    try {
      pool.acquire();
      FAIL_CHECK("acquire() connected to a blackhole");
    } catch (const co::mysql::Error& e) {
      pool_failed_after = seconds_since(t0);
      pool_error = e.what();
      CHECK(e.connection_broken());
    }
  });
  MESSAGE("pool connect timeout after ", pool_failed_after, " s: ", pool_error);
  CHECK(pool_failed_after >= 0.9);
  CHECK(pool_failed_after < 2.5);
  CHECK(pool.stats().open == 0);
  CHECK(pool.stats().connect_failures == 1);
}
