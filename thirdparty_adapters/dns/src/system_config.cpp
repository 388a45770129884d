#include "system_config.h"

#include <ares.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

namespace co::dns {
namespace {

// What identifies one version of a file (missing files compare equal to each other).
struct FileStamp {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{};
  timespec ctime{};

  static FileStamp of(const std::string& path) {
    FileStamp s;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return s;
    s = FileStamp{true, st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
    return s;
  }
  bool operator==(const FileStamp& o) const {
    return exists == o.exists && dev == o.dev && ino == o.ino && size == o.size &&
           mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec &&
           ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
  }
};

// The lines of a file without comments, split into words.
std::vector<std::vector<std::string>> lines_of(const std::string& path) {
  std::vector<std::vector<std::string>> out;
  std::ifstream in(path);
  std::string line;
  while (in && std::getline(in, line)) {
    line.resize(std::min(line.find('#'), line.size()));
    if (!line.empty() && line[0] == ';') continue;
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string word; words >> word;) w.push_back(std::move(word));
    if (!w.empty()) out.push_back(std::move(w));
  }
  return out;
}

// Cached parse of a small file, re-read when its stamp or `key` changes.
template <typename T, typename Parse>
std::shared_ptr<const T> cached(const std::string& path, const std::string& key, Parse parse) {
  struct Cache {
    std::mutex mu;
    FileStamp stamp;
    std::string key;
    std::shared_ptr<const T> value;
    std::uint64_t generation = 0;
  };
  static Cache cache;
  const FileStamp now = FileStamp::of(path);
  std::lock_guard<std::mutex> lock(cache.mu);
  if (!cache.value || !(now == cache.stamp) || cache.key != key) {
    auto fresh = std::make_shared<T>();
    parse(lines_of(path), fresh.get(), ++cache.generation);
    cache.value = std::move(fresh);
    cache.stamp = now;
    cache.key = key;
  }
  return cache.value;
}

std::string env(const char* name) {
  const char* v = ::secure_getenv(name);
  return v != nullptr ? v : "";
}

// res_setoptions's words that matter here.
void apply_options(ResolverSettings* s, const std::vector<std::string>& words) {
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

void parse_resolv_conf(const std::vector<std::vector<std::string>>& lines, ResolverSettings* s,
                       std::uint64_t generation) {
  s->generation = generation;
  for (const auto& w : lines) {
    if (w[0] == "sortlist") s->glibc_only = "sortlist";
    if (w[0] == "options") apply_options(s, {w.begin() + 1, w.end()});
  }
  std::istringstream res_options(env("RES_OPTIONS"));
  std::vector<std::string> words;
  for (std::string word; res_options >> word;) words.push_back(std::move(word));
  apply_options(s, words);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string address_key(int family, const void* addr) {
  std::string k(1, static_cast<char>(family == AF_INET ? 4 : 6));
  k.append(static_cast<const char*>(addr), family == AF_INET ? 4 : 16);
  return k;
}

void parse_hosts(const std::vector<std::vector<std::string>>& lines, HostsIndex* index,
                 std::uint64_t) {
  for (const auto& w : lines) {
    in_addr a4{};
    in6_addr a6{};
    std::uint8_t kind = 0;
    if (w.size() < 2) continue;
    if (::inet_pton(AF_INET, w[0].c_str(), &a4) > 0) {
      kind = HostsIndex::kV4;
      index->addresses.insert(address_key(AF_INET, &a4));
    } else if (::inet_pton(AF_INET6, w[0].c_str(), &a6) > 0) {
      kind = HostsIndex::kV6;
      index->addresses.insert(address_key(AF_INET6, &a6));
      if (IN6_IS_ADDR_V4MAPPED(&a6) || IN6_IS_ADDR_LOOPBACK(&a6)) {
        kind |= HostsIndex::kV6AsV4;
        a4.s_addr = htonl(INADDR_LOOPBACK);
        if (IN6_IS_ADDR_V4MAPPED(&a6)) std::memcpy(&a4, a6.s6_addr + 12, 4);
        index->addresses.insert(address_key(AF_INET, &a4));
      }
    } else {
      continue;
    }
    for (std::size_t i = 1; i < w.size(); ++i) index->names[lower(w[i])] |= kind;
  }
}

struct Nsswitch {
  HostsSources sources = HostsSources::other;  // no line: "dns [!UNAVAIL=return] files"
};

void parse_nsswitch(const std::vector<std::vector<std::string>>& lines, Nsswitch* out,
                    std::uint64_t) {
  for (const auto& w : lines) {
    if (w[0] != "hosts:") continue;
    std::string joined;
    for (std::size_t i = 1; i < w.size(); ++i) joined += (i > 1 ? " " : "") + w[i];
    out->sources = joined == "files dns" ? HostsSources::files_then_dns
                   : joined == "files"   ? HostsSources::files_only
                   : joined == "dns"     ? HostsSources::dns_only
                                         : HostsSources::other;
  }
}

struct GaiConf {
  bool customised = false;
};

}  // namespace

std::shared_ptr<const ResolverSettings> resolver_settings() {
  std::string path = env(kResolvConfEnv);
  if (path.empty()) path = "/etc/resolv.conf";
  const std::string servers = env(kDnsServersEnv);
  const std::string key =
      path + '\n' + servers + '\n' + env("RES_OPTIONS") + '\n' + env("LOCALDOMAIN");
  return cached<ResolverSettings>(path, key, [&](const auto& lines, ResolverSettings* s, auto g) {
    parse_resolv_conf(lines, s, g);
    s->resolv_conf = path;
    s->servers_csv = servers;
  });
}

HostsSources hosts_sources() {
  return cached<Nsswitch>("/etc/nsswitch.conf", "", parse_nsswitch)->sources;
}

bool gai_conf_customised() {
  return cached<GaiConf>(
             "/etc/gai.conf", "",
             [](const auto& lines, GaiConf* g, auto) { g->customised = !lines.empty(); })
      ->customised;
}

std::uint8_t HostsIndex::kinds_of(const char* name) const {
  const auto it = names.find(lower(name));
  return it == names.end() ? 0 : it->second;
}

bool HostsIndex::has_address(int family, const void* addr) const {
  return addresses.count(address_key(family, addr)) != 0;
}

std::shared_ptr<const HostsIndex> hosts_index() {
  return cached<HostsIndex>("/etc/hosts", "", parse_hosts);
}

}  // namespace co::dns
