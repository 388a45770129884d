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
#include <tuple>
#include <vector>

namespace co::dns {
namespace {

using Words = std::vector<std::string>;

// The lines of a file without comments, split into words.
std::vector<Words> lines_of(const std::string& path) {
  std::vector<Words> out;
  std::ifstream in(path);
  for (std::string line; in && std::getline(in, line);) {
    std::istringstream words(line.substr(0, line.find_first_of("#;")));
    Words w;
    for (std::string word; words >> word;) w.push_back(std::move(word));
    if (!w.empty()) out.push_back(std::move(w));
  }
  return out;
}

// cached parses a small file again when its stamp (inode, size, times) or `key` changes; each
// parse has a new generation number.
template <typename T, typename Parse>
std::shared_ptr<const T> cached(const std::string& path, const std::string& key, Parse parse) {
  using Stamp = std::tuple<dev_t, ino_t, off_t, long, long, long, long, std::string>;
  static std::mutex mu;
  static Stamp stamp;
  static std::shared_ptr<const T> value;
  static std::uint64_t generation = 0;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  const Stamp now{exists ? st.st_dev : 0, st.st_ino,         st.st_size,         st.st_mtim.tv_sec,
                  st.st_mtim.tv_nsec,     st.st_ctim.tv_sec, st.st_ctim.tv_nsec, path + '\n' + key};
  std::lock_guard<std::mutex> lock(mu);
  if (!value || now != stamp) {
    auto fresh = std::make_shared<T>();
    parse(lines_of(path), fresh.get(), ++generation);
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

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string address_key(int family, const void* addr) {
  return std::string(1, static_cast<char>(family)) +
         std::string(static_cast<const char*>(addr), family == AF_INET ? 4 : 16);
}

void parse_hosts(const std::vector<Words>& lines, HostsIndex* index, std::uint64_t) {
  for (const Words& w : lines) {
    in_addr a4{};
    in6_addr a6{};
    std::uint8_t kind = HostsIndex::kV4;
    if (w.size() < 2) continue;
    if (::inet_pton(AF_INET, w[0].c_str(), &a4) > 0) {
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

void parse_nsswitch(const std::vector<Words>& lines, Nsswitch* out, std::uint64_t) {
  for (const Words& w : lines) {
    if (w[0] != "hosts:") continue;
    std::string joined;
    for (std::size_t i = 1; i < w.size(); ++i) joined += (i > 1 ? " " : "") + w[i];
    out->sources = joined == "files dns" ? HostsSources::files_then_dns
                   : joined == "files"   ? HostsSources::files_only
                   : joined == "dns"     ? HostsSources::dns_only
                                         : HostsSources::other;
  }
}

}  // namespace

std::shared_ptr<const ResolverSettings> resolver_settings() {
  std::string path = env(kResolvConfEnv);
  if (path.empty()) path = "/etc/resolv.conf";
  const std::string servers = env(kDnsServersEnv);
  const std::string key = servers + '\n' + env("RES_OPTIONS") + '\n' + env("LOCALDOMAIN");
  return cached<ResolverSettings>(path, key, [&](const auto& lines, ResolverSettings* s, auto g) {
    s->generation = g;
    s->resolv_conf = path;
    s->servers_csv = servers;
    for (const Words& w : lines) {
      if (w[0] == "sortlist") s->glibc_only = "sortlist";
      if (w[0] == "options") apply_options(s, Words(w.begin() + 1, w.end()));
    }
    std::istringstream res_options(env("RES_OPTIONS"));
    Words words;
    for (std::string word; res_options >> word;) words.push_back(std::move(word));
    apply_options(s, words);
  });
}

HostsSources hosts_sources() {
  return cached<Nsswitch>("/etc/nsswitch.conf", "", parse_nsswitch)->sources;
}

bool gai_conf_customised() {
  struct GaiConf {
    bool customised = false;
  };
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
