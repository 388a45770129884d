// Runs dns_glibc_oracle (glibc_oracle_main.cpp): glibc and this resolver compared on ~3,000
// lookups in a private mount and network namespace whose /etc files point at a responder on
// 127.0.0.1:53. Skipped (with a message) where namespaces are not permitted.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

TEST_CASE("glibc and the coroutine resolver agree, configured through /etc as users do") {
  std::string out;
  FILE* p = ::popen(COFCGI_DNS_ORACLE " 2>&1", "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  REQUIRE(WIFEXITED(status));
  const int code = WEXITSTATUS(status);
  if (code == 77) {
    MESSAGE("skipped: " << out);
    return;
  }
  // The summary lines: what was compared and how each was answered.
  std::string summary;
  for (std::size_t pos = out.find("compared "); pos != std::string::npos && pos < out.size();) {
    const std::size_t end = out.find('\n', pos);
    summary += out.substr(pos, end - pos) + "\n";
    pos = end == std::string::npos ? end : end + 1;
  }
  MESSAGE(summary);
  INFO(out);
  CHECK(code == 0);
}
