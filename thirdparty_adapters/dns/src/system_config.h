// What the resolver reads from the system to decide who answers a lookup, each file read
// again when it changes: the hosts line of nsswitch.conf, what /etc/hosts has, whether
// gai.conf has settings, the resolv.conf settings c-ares 1.18.1 does not apply, and this
// library's overrides. resolv.conf itself is c-ares's to parse.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace co::dns {

// Environment variables read (with secure_getenv, so never for set-uid programs).
inline constexpr const char* kResolvConfEnv = "COFCGI_RESOLV_CONF";  // a resolv.conf path
inline constexpr const char* kDnsServersEnv = "COFCGI_DNS_SERVERS";  // "ip[:port],[ip6]:port"

struct ResolverSettings {
  std::uint64_t generation = 0;  // changes whenever anything below or the file changes
  std::string resolv_conf;       // the file c-ares reads
  std::string servers_csv;       // COFCGI_DNS_SERVERS (empty: the file's name servers)
  // What c-ares 1.18.1 does not read from the file: use-vc and edns0 (flags), timeout: and
  // attempts: (it knows only retrans: and retry:), with glibc's defaults.
  int ares_flags = 0;
  int timeout_ms = 5000;
  int tries = 2;
  // Non-empty when the file asks for something c-ares does not do and that changes answers
  // (sortlist; options inet6, no-aaaa, no-tld-query): glibc answers on a helper thread.
  std::string glibc_only;
};

// resolver_settings returns the current settings (the file's stamp checked on every call).
std::shared_ptr<const ResolverSettings> resolver_settings();

// The hosts line of nsswitch.conf, as far as the c-ares path reproduces it.
enum class HostsSources {
  files_then_dns,  // "files dns" (Debian's default)
  files_only,      // "files": never DNS
  dns_only,        // "dns"
  other,           // anything else (other services, [STATUS=action], no file): use glibc
};
HostsSources hosts_sources();

// gai_conf_customised: /etc/gai.conf has a setting; getaddrinfo then runs in glibc.
bool gai_conf_customised();

// Which names and addresses glibc's "files" source answers: those lookups stay glibc's.
struct HostsIndex {
  enum : std::uint8_t {
    kV4 = 1,      // an IPv4 line
    kV6 = 2,      // an IPv6 line
    kV6AsV4 = 4,  // ::1 or a v4-mapped line (glibc's files turns it into IPv4 for AF_INET)
  };
  std::unordered_map<std::string, std::uint8_t> names;  // lower-case name -> kinds
  std::unordered_set<std::string> addresses;            // family byte + address bytes

  std::uint8_t kinds_of(const char* name) const;
  bool has_address(int family, const void* addr) const;
};
std::shared_ptr<const HostsIndex> hosts_index();

}  // namespace co::dns
