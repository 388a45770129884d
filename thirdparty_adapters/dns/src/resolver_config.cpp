#include "resolver_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

namespace co::dns {
namespace {

constexpr const char* kDefaultResolvConf = "/etc/resolv.conf";
constexpr const char* kHostsPath = "/etc/hosts";
constexpr const char* kNsswitchPath = "/etc/nsswitch.conf";
constexpr const char* kGaiConfPath = "/etc/gai.conf";

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
    s.exists = true;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
    s.ctime = st.st_ctim;
    return s;
  }
  bool operator==(const FileStamp& o) const {
    return exists == o.exists && dev == o.dev && ino == o.ino && size == o.size &&
           mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec &&
           ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
  }
};

std::string env_or_empty(const char* name, bool* set = nullptr) {
  const char* v = ::secure_getenv(name);
  if (set != nullptr) *set = v != nullptr;
  return v != nullptr ? std::string(v) : std::string();
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!w.empty()) out.push_back(std::move(w));
      w.clear();
    } else {
      w.push_back(c);
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

// glibc's MATCH: the keyword followed by a blank.
bool keyword(const std::string& line, const char* name) {
  const std::size_t n = std::strlen(name);
  return line.compare(0, n, name) == 0 && line.size() > n && (line[n] == ' ' || line[n] == '\t');
}

// inet_aton_exact: inet_aton accepting the whole string (inet_aton stops at a blank).
bool inet_aton_exact(const std::string& s, in_addr* a) {
  if (s.find_first_of(" \t\n\v\f\r") != std::string::npos) return false;
  return ::inet_aton(s.c_str(), a) != 0;
}

// res_setoptions for one "options" string.
void apply_options(ResolvConf* c, const std::string& text) {
  for (const std::string& w : words(text)) {
    auto starts = [&](const char* p) { return w.compare(0, std::strlen(p), p) == 0; };
    if (starts("ndots:")) {
      c->ndots = std::min(std::atoi(w.c_str() + 6), 15);
    } else if (starts("timeout:")) {
      c->timeout = std::min(std::atoi(w.c_str() + 8), 30);
    } else if (starts("attempts:")) {
      c->attempts = std::min(std::atoi(w.c_str() + 9), 5);
    } else if (starts("rotate")) {
      c->rotate = true;
    } else if (starts("edns0")) {
      c->edns0 = true;
    } else if (starts("no_tld_query") || starts("no-tld-query")) {
      c->no_tld_query = true;
    } else if (starts("use-vc")) {
      c->use_vc = true;
    } else if (starts("no-aaaa")) {
      c->no_aaaa = true;
    } else if (starts("inet6")) {
      c->unsupported = "options inet6";
    }
    // single-request(-reopen), no-reload, trust-ad, debug: no effect on results.
  }
}

std::string server_entry(const std::string& addr) {
  in_addr a4{};
  if (inet_aton_exact(addr, &a4)) {
    char buf[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &a4, buf, sizeof buf);
    return std::string(buf) + ":53";
  }
  // IPv6, with an optional %scope that c-ares 1.18 cannot carry: dropped.
  const std::string host = addr.substr(0, addr.find('%'));
  in6_addr a6{};
  if (!host.empty() && ::inet_pton(AF_INET6, host.c_str(), &a6) > 0) {
    char buf[INET6_ADDRSTRLEN];
    ::inet_ntop(AF_INET6, &a6, buf, sizeof buf);
    return "[" + std::string(buf) + "]:53";
  }
  return std::string();
}

void parse_resolv_conf(ResolvConf* c) {
  bool have_env = false;
  const std::string localdomain = env_or_empty("LOCALDOMAIN", &have_env);
  if (have_env) c->search = words(localdomain);
  std::vector<std::string> servers;
  std::ifstream in(c->path);
  std::string line;
  while (in && std::getline(in, line)) {
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    if (keyword(line, "domain")) {
      if (have_env) continue;
      const auto w = words(line.substr(6));
      if (!w.empty()) c->search = {w[0]};
    } else if (keyword(line, "search")) {
      if (have_env) continue;
      const auto w = words(line.substr(6));
      if (!w.empty()) c->search = w;
    } else if (keyword(line, "nameserver")) {
      if (servers.size() >= 3) continue;  // MAXNS
      const auto w = words(line.substr(10));
      if (w.empty()) continue;
      std::string entry = server_entry(w[0]);
      if (!entry.empty()) servers.push_back(std::move(entry));
    } else if (keyword(line, "sortlist")) {
      c->unsupported = "sortlist";
    } else if (keyword(line, "options")) {
      apply_options(c, line.substr(7));
    }
  }
  if (servers.empty()) servers.push_back("127.0.0.1:53");
  if (c->search.empty()) {
    // No domain or search line: the domain of the host name, as glibc does.
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) {
      if (const char* dot = std::strchr(host, '.'); dot != nullptr && dot[1] != '\0') {
        c->search = {std::string(dot + 1)};
      }
    }
  }
  const std::string res_options = env_or_empty("RES_OPTIONS");
  if (!res_options.empty()) apply_options(c, res_options);
  if (c->ndots < 0) c->ndots = 0;

  bool have_override = false;
  const std::string override_servers = env_or_empty(kDnsServersEnv, &have_override);
  if (have_override && !override_servers.empty()) {
    c->servers_csv = override_servers;
  } else {
    for (const std::string& s : servers) {
      if (!c->servers_csv.empty()) c->servers_csv += ",";
      c->servers_csv += s;
    }
  }
}

struct ResolvConfCache {
  std::mutex mu;
  std::string key;  // path, env values
  FileStamp stamp;
  std::shared_ptr<const ResolvConf> conf;
  std::uint64_t generation = 0;
};

// Cached parse of a small file, re-read when its stamp changes.
template <typename T, typename Parse>
std::shared_ptr<const T> cached_file(const char* path, Parse parse) {
  struct Cache {
    std::mutex mu;
    FileStamp stamp;
    std::shared_ptr<const T> value;
  };
  static Cache cache;
  const FileStamp now = FileStamp::of(path);
  std::lock_guard<std::mutex> lock(cache.mu);
  if (!cache.value || !(now == cache.stamp)) {
    auto fresh = std::make_shared<T>();
    parse(path, now.exists, fresh.get());
    cache.value = std::move(fresh);
    cache.stamp = now;
  }
  return cache.value;
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

void parse_hosts(const char* path, bool exists, HostsIndex* index) {
  if (!exists) return;
  std::ifstream in(path);
  std::string line;
  while (in && std::getline(in, line)) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const auto w = words(line);
    if (w.size() < 2) continue;
    std::uint8_t kind = 0;
    in_addr a4{};
    in6_addr a6{};
    if (::inet_pton(AF_INET, w[0].c_str(), &a4) > 0) {
      kind = HostsIndex::kV4;
      index->addresses.insert(address_key(AF_INET, &a4));
    } else if (::inet_pton(AF_INET6, w[0].c_str(), &a6) > 0) {
      kind = HostsIndex::kV6;
      index->addresses.insert(address_key(AF_INET6, &a6));
      if (IN6_IS_ADDR_V4MAPPED(&a6) || IN6_IS_ADDR_LOOPBACK(&a6)) {
        kind |= HostsIndex::kV6AsV4;
        in_addr as4{};
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
          std::memcpy(&as4, a6.s6_addr + 12, 4);
        } else {
          as4.s_addr = htonl(INADDR_LOOPBACK);
        }
        index->addresses.insert(address_key(AF_INET, &as4));
      }
    } else {
      continue;
    }
    for (std::size_t i = 1; i < w.size(); ++i) index->names[lower(w[i])] |= kind;
  }
}

struct NsswitchHosts {
  HostsSources sources = HostsSources::other;
};

void parse_nsswitch(const char* path, bool exists, NsswitchHosts* out) {
  out->sources = HostsSources::other;  // glibc's default: "dns [!UNAVAIL=return] files"
  if (!exists) return;
  std::ifstream in(path);
  std::string line;
  while (in && std::getline(in, line)) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto name = words(line.substr(0, colon));
    if (name.size() != 1 || name[0] != "hosts") continue;
    const auto services = words(line.substr(colon + 1));
    std::string joined;
    bool actions = false;
    for (const std::string& s : services) {
      if (s.find('[') != std::string::npos || s.find(']') != std::string::npos) actions = true;
      joined += (joined.empty() ? "" : " ") + s;
    }
    if (actions) {
      out->sources = HostsSources::other;
    } else if (joined == "files dns") {
      out->sources = HostsSources::files_then_dns;
    } else if (joined == "files") {
      out->sources = HostsSources::files_only;
    } else if (joined == "dns") {
      out->sources = HostsSources::dns_only;
    } else {
      out->sources = HostsSources::other;
    }
  }
}

struct GaiConf {
  bool customised = false;
};

void parse_gai_conf(const char* path, bool exists, GaiConf* out) {
  if (!exists) return;
  std::ifstream in(path);
  std::string line;
  while (in && std::getline(in, line)) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    if (!words(line).empty()) out->customised = true;
  }
}

}  // namespace

std::shared_ptr<const ResolvConf> resolv_conf() {
  static ResolvConfCache cache;
  bool have_path = false;
  std::string path = env_or_empty(kResolvConfEnv, &have_path);
  if (!have_path || path.empty()) path = kDefaultResolvConf;
  std::string key = path;
  for (const char* name : {"LOCALDOMAIN", "RES_OPTIONS", kDnsServersEnv}) {
    bool set = false;
    const std::string v = env_or_empty(name, &set);
    key += '\0';
    key += set ? "1" + v : "0";
  }
  const FileStamp stamp = FileStamp::of(path);
  std::lock_guard<std::mutex> lock(cache.mu);
  if (cache.conf && cache.key == key && cache.stamp == stamp) return cache.conf;
  auto fresh = std::make_shared<ResolvConf>();
  fresh->path = path;
  fresh->generation = ++cache.generation;
  parse_resolv_conf(fresh.get());
  cache.conf = std::move(fresh);
  cache.key = std::move(key);
  cache.stamp = stamp;
  return cache.conf;
}

std::uint8_t HostsIndex::kinds_of(const char* name) const {
  const auto it = names.find(lower(name));
  return it == names.end() ? 0 : it->second;
}

bool HostsIndex::has_address(int family, const void* addr) const {
  return addresses.count(address_key(family, addr)) != 0;
}

std::shared_ptr<const HostsIndex> hosts_index() {
  return cached_file<HostsIndex>(kHostsPath, parse_hosts);
}

HostsSources hosts_sources() {
  return cached_file<NsswitchHosts>(kNsswitchPath, parse_nsswitch)->sources;
}

bool gai_conf_customised() {
  return cached_file<GaiConf>(kGaiConfPath, parse_gai_conf)->customised;
}

}  // namespace co::dns
