// lease_syscalls_probe: what one pooled lease of a plain prepared SELECT costs the kernel
// (issue 15), for lease_syscalls_test.sh: starts the private mariadbd, warms a pool of one
// connection (Config::reset_only_when_changed) up, then runs LEASES leases - acquire,
// execute, release - between two getppid() calls, which mark the window the test counts
// with strace. Coroutines run on the main thread; strace follows only it (not mariadbd).
//
// Usage: lease_syscalls_probe [LEASES]   exits 0 when every lease got its answer.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "cofcgi/adapters/mysql_pool.h"
#include "cofcgi/runtime.h"
#include "mariadb_server.h"

int main(int argc, char** argv) {
  const int leases = argc > 1 ? std::atoi(argv[1]) : 100;
  co::mysql::library_init();
  cofcgi_test::MariadbServer server;
  server.start();
  co::mysql::Config cfg;
  cfg.unix_socket = server.socket_path();
  cfg.user = server.user();
  cfg.password = server.password();
  cfg.database = server.database();
  cfg.max_connections = 1;
  cfg.reset_only_when_changed = true;
  int answered = 0;
  bool failed = false;
  {
    co::mysql::Pool pool(cfg);
    co::go([&] {
      try {
        auto lease_once = [&](int i) {
          auto c = pool.acquire();
          if (c.prepare("SELECT ? + 1").execute(i)[0][0] == std::to_string(i + 1)) ++answered;
        };
        for (int i = 0; i < 3; ++i) lease_once(i);  // connect, prepare
        answered = 0;
        (void)::getppid();  // window start
        for (int i = 0; i < leases; ++i) lease_once(i);
        (void)::getppid();  // window end
      } catch (const std::exception& e) {
        std::fprintf(stderr, "lease_syscalls_probe: %s\n", e.what());
        failed = true;
      }
    });
    co::run();
  }
  std::printf("%d of %d leases answered\n", answered, leases);
  return !failed && answered == leases ? 0 : 1;
}
