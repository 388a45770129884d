// Pool settings: max_idle, idle_timeout with min_idle, max_lifetime, the backoff while the
// server cannot be reached (fail fast, one probe at a time), one deadline for connect and
// health check (a server that accepts but never answers), and set_options (mysql_optionsv).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cofcgi/runtime/unique_fd.h"
#include "leak_check.h"
#include "mysql_test_util.h"

using namespace mysql_test;

namespace {

struct ServerStarted {
  ServerStarted() { server(); }
};
struct SettingsTest : ServerStarted {
  cofcgi_test::LeakCheck leaks;
};

std::string connection_id(co::mysql::Connection& c) {
  return c.query("SELECT CONNECTION_ID()").value(0, 0);
}

// stop_process: SIGSTOP, then wait until every thread of it is stopped (kill() returns
// before the signal has taken effect: a thread may still answer a query meanwhile).
void stop_process(pid_t pid) {
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  const co::Deadline give_up = co::deadline_after(std::chrono::seconds(10));
  for (;;) {
    bool all_stopped = true;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
      std::ifstream stat(task.path() / "stat");
      std::string line;
      std::getline(stat, line);
      const auto close_paren = line.rfind(')');
      if (close_paren == std::string::npos || close_paren + 2 >= line.size() ||
          (line[close_paren + 2] != 'T' && line[close_paren + 2] != 't'))
        all_stopped = false;
    }
    if (all_stopped) return;
    REQUIRE(co::now_ns() < give_up);
    co::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

TEST_CASE_FIXTURE(SettingsTest, "settings: max_idle closes what it would keep beyond it") {
  auto cfg = pool_config(true, 4);
  cfg.max_idle = 1;
  co::mysql::Pool pool(cfg);
  run_coroutines(4, [&](int) {
    auto conn = pool.acquire();
    co::sleep_for(std::chrono::milliseconds(50));  // all four lent at once
  });
  const auto st = pool.stats();
  CHECK(st.connects == 4);
  CHECK(st.idle == 1);
  CHECK(st.open == 1);
}

TEST_CASE_FIXTURE(SettingsTest, "settings: idle_timeout closes idle connections, min_idle stay") {
  auto cfg = pool_config(true, 4);
  cfg.idle_timeout = std::chrono::milliseconds(200);
  cfg.min_idle = 1;
  co::mysql::Pool pool(cfg);
  run_coroutines(3, [&](int) {
    auto conn = pool.acquire();
    co::sleep_for(std::chrono::milliseconds(20));
  });
  CHECK(pool.stats().idle == 3);
  run_coroutines(1, [&](int) {
    co::sleep_for(std::chrono::milliseconds(300));
    auto conn = pool.acquire();  // looks at the idle ones first: two go, one is kept
    CHECK(conn.query("SELECT 1").value(0, 0) == "1");
  });
  const auto st = pool.stats();
  CHECK(st.expired == 2);
  CHECK(st.open == 1);
  CHECK(st.connects == 3);
}

TEST_CASE_FIXTURE(SettingsTest, "settings: max_lifetime replaces an old connection") {
  auto cfg = pool_config(true, 1);
  cfg.max_lifetime = std::chrono::milliseconds(200);
  co::mysql::Pool pool(cfg);
  run_coroutines(1, [&](int) {
    std::string first;
    {
      auto conn = pool.acquire();
      first = connection_id(conn);
    }
    {
      auto conn = pool.acquire();
      CHECK(connection_id(conn) == first);  // young: reused
    }
    co::sleep_for(std::chrono::milliseconds(250));
    auto conn = pool.acquire();
    CHECK(connection_id(conn) != first);
  });
  CHECK(pool.stats().connects == 2);
}

TEST_CASE_FIXTURE(SettingsTest,
                  "settings: backoff: a server refusing at once is tried again within ms") {
  // Nothing listens on this port (bound, never listening): connects are refused at once,
  // so the backoff is about their cost (>= 1 ms), not backoff_initial.
  co::UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(holder.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  auto cfg = pool_config(false, 8);
  cfg.port = ntohs(a.sin_port);
  cfg.backoff_initial = std::chrono::milliseconds(500);
  co::mysql::Pool pool(cfg);
  run_coroutines(1, [&](int) {
    for (int k = 1; k <= 5; ++k) {
      try {
        pool.acquire();
        FAIL_CHECK("connected to a port nobody listens on");
      } catch (const co::mysql::Error& e) {
        CHECK(e.connection_broken());  // 2002 (CR_CONNECTION_ERROR)
      }
      co::sleep_for(std::chrono::milliseconds(20));  // far less than backoff_initial
    }
  });
  const auto st = pool.stats();
  CHECK(st.connect_failures == 5);  // each one tried: none waited out backoff_initial
  CHECK(st.backoff_refusals == 0);
}

TEST_CASE_FIXTURE(SettingsTest,
                  "settings: a server that never answers costs connect_timeout, one probe") {
  SilentListener silent;
  auto cfg = pool_config(false, 8);
  cfg.port = silent.port;
  cfg.connect_timeout = std::chrono::seconds(1);
  cfg.read_timeout = std::chrono::seconds(30);
  cfg.backoff_initial = std::chrono::milliseconds(100);
  co::mysql::Pool pool(cfg);
  double first_failed_after = -1, refused_after = -1;
  std::string refused;
  std::vector<double> during_probe;
  run_coroutines(6, [&](int i) {
    if (i == 0) {
      const co::Deadline t0 = co::now_ns();
      CHECK_THROWS_AS(pool.acquire(), co::mysql::Error);
      first_failed_after = seconds_since(t0);
      // Right after a failure that cost time: refused at once, with the reason.
      const co::Deadline t1 = co::now_ns();
      try {
        pool.acquire();
      } catch (const co::mysql::Error& e) {
        refused = e.what();
      }
      refused_after = seconds_since(t1);
      co::sleep_for(std::chrono::milliseconds(150));  // backoff over: next one probes
      CHECK_THROWS_AS(pool.acquire(), co::mysql::Error);
      return;
    }
    // Others come while the probe hangs: refused at once.
    co::sleep_for(std::chrono::milliseconds(1300 + 50 * i));
    const co::Deadline t0 = co::now_ns();
    CHECK_THROWS_AS(pool.acquire(), co::mysql::Error);
    during_probe.push_back(seconds_since(t0));
  });
  MESSAGE("silent server: connect failed after ", first_failed_after,
          " s (connect_timeout 1 s, "
          "read_timeout 30 s); acquires during the probe failed after ",
          *std::max_element(during_probe.begin(), during_probe.end()) * 1e3, " ms at most");
  CHECK(first_failed_after >= 0.9);
  CHECK(first_failed_after < 5.0);
  MESSAGE("refused after ", refused_after * 1e3, " ms: ", refused);
  CHECK(refused.find("backoff") != std::string::npos);
  CHECK(refused_after < 0.05);
  for (double d : during_probe) CHECK(d < 0.5);
  CHECK(pool.stats().connect_failures == 2);
  CHECK(pool.stats().backoff_refusals == during_probe.size() + 1);
}

TEST_CASE_FIXTURE(SettingsTest,
                  "settings: the health check of an idle connection is bounded too (SIGSTOP)") {
  auto& srv = server();
  auto cfg = pool_config(true, 2);
  cfg.connect_timeout = std::chrono::seconds(1);
  cfg.read_timeout = std::chrono::seconds(30);
  cfg.ping_after_idle = std::chrono::milliseconds(0);  // ping every idle connection
  co::mysql::Pool pool(cfg);
  double failed_after = -1;
  std::string error;
  run_coroutines(1, [&](int) {
    { auto conn = pool.acquire(); }
    stop_process(srv.pid());
    const co::Deadline t0 = co::now_ns();
    try {
      auto conn = pool.acquire();  // ping hangs, then a new connect hangs: one deadline for both
    } catch (const co::mysql::Error& e) {
      error = e.what();
    }
    failed_after = seconds_since(t0);
    ::kill(srv.pid(), SIGCONT);
  });
  MESSAGE("stopped server: acquire failed after ", failed_after, " s: ", error, "; connects ",
          pool.stats().connects, ", health check failures ", pool.stats().health_check_failures,
          ", discarded ", pool.stats().discarded);
  CHECK(!error.empty());
  CHECK(failed_after >= 0.9);
  CHECK(failed_after < 5.0);  // not read_timeout (30 s), not 2 x connect_timeout
  CHECK(pool.stats().health_check_failures == 1);
  // The server is back: the pool works (after the backoff).
  run_coroutines(1, [&](int) {
    co::sleep_for(std::chrono::milliseconds(150));
    CHECK(pool.acquire().query("SELECT 2").value(0, 0) == "2");
  });
}

TEST_CASE_FIXTURE(SettingsTest, "settings: set_options passes mysql_optionsv through") {
  auto cfg = pool_config(true, 1);
  cfg.read_timeout = std::chrono::seconds(30);
  cfg.set_options = [](MYSQL* m) {
    const unsigned one_second = 1;
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &one_second);
  };
  co::mysql::Pool pool(cfg);
  double failed_after = -1;
  run_coroutines(1, [&](int) {
    auto conn = pool.acquire();
    const co::Deadline t0 = co::now_ns();
    try {
      conn.query("SELECT SLEEP(3)");
    } catch (const co::mysql::Error& e) {
      failed_after = seconds_since(t0);
      CHECK(e.code() == 2013);
    }
  });
  CHECK(failed_after >= 0.9);
  CHECK(failed_after < 2.5);
  CHECK(pool.stats().discarded == 1);
}
