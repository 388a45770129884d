#include "system_config.h"

#include <ares.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>
#include <tuple>
#include <vector>

#include "real_netdb.h"

namespace co::dns {
namespace {

using Words = std::vector<std::string>;

Words words_of(const std::string& text) {
  std::istringstream in(text);
  Words w;
  for (std::string word; in >> word;) w.push_back(std::move(word));
  return w;
}

// The lines of a file without comments, split into words.
std::vector<Words> lines_of(const std::string& path) {
  std::vector<Words> out;
  std::ifstream in(path);
  for (std::string line; in && std::getline(in, line);) {
    Words w = words_of(line.substr(0, line.find_first_of("#;")));
    if (!w.empty()) out.push_back(std::move(w));
  }
  return out;
}

// cached parses a small file again when its stamp (inode, size, times) or `key` changes, into
// a new object.
template <typename T, typename Parse>
std::shared_ptr<const T> cached(const std::string& path, const std::string& key, Parse parse) {
  using Stamp = std::tuple<dev_t, ino_t, off_t, long, long, long, long, std::string>;
  static std::mutex mu;
  static Stamp stamp;
  static std::shared_ptr<const T> value;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  const Stamp now{exists ? st.st_dev : 0, st.st_ino,         st.st_size,         st.st_mtim.tv_sec,
                  st.st_mtim.tv_nsec,     st.st_ctim.tv_sec, st.st_ctim.tv_nsec, path + '\n' + key};
  std::lock_guard<std::mutex> lock(mu);
  if (!value || now != stamp) {
    auto fresh = std::make_shared<T>();
    parse(lines_of(path), fresh.get());
    value = std::move(fresh);
    stamp = now;
  }
  return value;
}

std::string env(const char* name) {
  const char* v = ::secure_getenv(name);
  return v != nullptr ? v : "";
}

// res_setoptions's words that c-ares 1.18.1 does not apply.
void apply_options(ResolverSettings* s, const Words& words) {
  for (const std::string& w : words) {
    if (w.rfind("timeout:", 0) == 0) s->timeout_ms = std::clamp(std::atoi(&w[8]), 1, 30) * 1000;
    if (w.rfind("attempts:", 0) == 0) s->tries = std::clamp(std::atoi(&w[9]), 1, 5);
    if (w == "use-vc") s->ares_flags |= ARES_FLAG_USEVC;
    if (w == "edns0") s->ares_flags |= ARES_FLAG_EDNS;
    if (w == "inet6" || w == "no-aaaa" || w == "no-tld-query" || w == "no_tld_query") {
      s->glibc_only = "options " + w;
    }
  }
}

void parse_nsswitch(const std::vector<Words>& lines, HostsSources* out) {
  *out = HostsSources::other;  // no line: "dns [!UNAVAIL=return] files"
  for (const Words& w : lines) {
    if (w[0] != "hosts:") continue;
    const Words s(w.begin() + 1, w.end());
    *out = s == Words{"files", "dns"} ? HostsSources::files_then_dns
           : s == Words{"files"}      ? HostsSources::files_only
           : s == Words{"dns"}        ? HostsSources::dns_only
                                      : HostsSources::other;
  }
}

}  // namespace

std::shared_ptr<const ResolverSettings> resolver_settings() {
  std::string path = env(kResolvConfEnv);
  if (path.empty()) path = "/etc/resolv.conf";
  const std::string servers = env(kDnsServersEnv);
  const std::string key = servers + '\n' + env("RES_OPTIONS") + '\n' + env("LOCALDOMAIN");
  return cached<ResolverSettings>(path, key, [&](const auto& lines, ResolverSettings* s) {
    s->resolv_conf = path;
    s->servers_csv = servers;
    for (const Words& w : lines) {
      if (w[0] == "sortlist") s->glibc_only = "sortlist";
      if (w[0] == "options") apply_options(s, Words(w.begin() + 1, w.end()));
    }
    apply_options(s, words_of(env("RES_OPTIONS")));
  });
}

HostsSources hosts_sources() {
  const HostsSources s = *cached<HostsSources>("/etc/nsswitch.conf", "", parse_nsswitch);
  // Without glibc's files source (GLIBC_PRIVATE, real_netdb.h) /etc/hosts may answer any
  // name or address, and only glibc can tell: glibc answers, on a helper thread.
  const bool files_known =
      R()._nss_files_gethostbyname2_r != nullptr && R()._nss_files_gethostbyaddr_r != nullptr;
  return s == HostsSources::files_then_dns && !files_known ? HostsSources::other : s;
}

bool gai_conf_customised() {
  return *cached<bool>("/etc/gai.conf", "",
                       [](const auto& lines, bool* customised) { *customised = !lines.empty(); });
}

}  // namespace co::dns
