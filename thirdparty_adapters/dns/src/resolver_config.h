// What the resolver reads from the system, parsed the way glibc 2.36 parses it and re-read
// when the file changes (glibc checks resolv.conf and nsswitch.conf on every lookup too):
// resolv.conf (plus LOCALDOMAIN, RES_OPTIONS and cofcgi's own overrides), the hosts file
// (only to know which names and addresses glibc's "files" source answers), the hosts line of
// nsswitch.conf, and whether gai.conf changes the RFC 3484 tables.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace co::dns {

// Environment variables read (with secure_getenv, so never for set-uid programs).
inline constexpr const char* kResolvConfEnv = "COFCGI_RESOLV_CONF";  // a resolv.conf path
inline constexpr const char* kDnsServersEnv = "COFCGI_DNS_SERVERS";  // "ip[:port],[ip6]:port"

struct ResolvConf {
  std::uint64_t generation = 0;  // changes whenever anything below changes
  std::string path;              // the file read
  // For ares_set_servers_ports_csv: "a.b.c.d:port" or "[v6]:port".
  std::string servers_csv;
  std::vector<std::string> search;
  int ndots = 1;     // options ndots: (max 15)
  int timeout = 5;   // options timeout: seconds (max 30)
  int attempts = 2;  // options attempts: (max 5)
  bool rotate = false;
  bool use_vc = false;
  bool edns0 = false;
  bool no_tld_query = false;
  bool no_aaaa = false;
  // Non-empty when the configuration asks for something this resolver does not reproduce
  // (inet6, sortlist); lookups then go to glibc on a helper thread.
  std::string unsupported;
};

// resolv_conf returns the current configuration (checked for changes on every call).
std::shared_ptr<const ResolvConf> resolv_conf();

// Which names and addresses glibc's "files" source (/etc/hosts) knows, per kind of line.
struct HostsIndex {
  enum : std::uint8_t {
    kV4 = 1,      // an IPv4 line
    kV6 = 2,      // an IPv6 line
    kV6AsV4 = 4,  // ::1 or a v4-mapped IPv6 line (files turns it into IPv4 for AF_INET)
  };
  std::unordered_map<std::string, std::uint8_t> names;  // lower-case name -> kinds
  std::unordered_set<std::string> addresses;            // family byte + address bytes

  std::uint8_t kinds_of(const char* name) const;
  bool has_address(int family, const void* addr) const;
};

std::shared_ptr<const HostsIndex> hosts_index();

// The hosts line of nsswitch.conf, as far as this resolver reproduces it.
enum class HostsSources {
  files_then_dns,  // "files dns" (Debian's default)
  files_only,      // "files": never DNS
  dns_only,        // "dns"
  other,           // anything else (other services, [STATUS=action], no file): use glibc
};

HostsSources hosts_sources();

// gai_conf_customised tells whether /etc/gai.conf has any setting (label, precedence,
// scopev4, reload); getaddrinfo then sorts with glibc on a helper thread.
bool gai_conf_customised();

}  // namespace co::dns
