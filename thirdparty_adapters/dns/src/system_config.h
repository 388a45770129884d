// What the resolver reads from the system to decide who answers a lookup (README, "Who
// answers"), each file read again when it changes. resolv.conf itself is c-ares's to parse.
#pragma once

#include <memory>
#include <string>

namespace co::dns {

// Environment variables read (with secure_getenv, so never for set-uid programs).
inline constexpr const char* kResolvConfEnv = "COFCGI_RESOLV_CONF";  // a resolv.conf path
inline constexpr const char* kDnsServersEnv = "COFCGI_DNS_SERVERS";  // "ip[:port],[ip6]:port"

struct ResolverSettings {
  std::string resolv_conf;  // the file c-ares reads
  std::string servers_csv;  // COFCGI_DNS_SERVERS (empty: the file's name servers)
  // What c-ares 1.18.1 does not read from the file: use-vc and edns0 (flags), timeout: and
  // attempts: (it knows only retrans: and retry:), with glibc's defaults.
  int ares_flags = 0;
  int timeout_ms = 5000;
  int tries = 2;
  // Non-empty when the file asks for something c-ares does not do and that changes answers
  // (sortlist; options inet6, no-aaaa, no-tld-query): glibc answers on a helper thread.
  std::string glibc_only;
};

// resolver_settings: the same object until the file (its stamp checked on every call) or the
// environment changes.
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

}  // namespace co::dns
