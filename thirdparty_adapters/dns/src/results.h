// Results as glibc lays them out, from what c-ares returns: hostents packed into the
// caller's buffer, the canonical name and aliases read from c-ares's CNAME records.
#pragma once

#include <ares.h>
#include <netdb.h>

#include <string>
#include <vector>

namespace co::dns {

struct HostData {
  std::string name;
  std::vector<std::string> aliases;
  std::vector<std::string> addresses;  // 4 or 16 bytes each, of family `af`
  int af = AF_INET;
};

// The outcome of a gethostbyname_r/gethostbyaddr_r-style call, before it is copied out.
struct HostCall {
  int rc = 0;      // the _r function's return value
  int herrno = 0;  // *h_errnop
  int err = 0;     // errno after the call
  bool found = false;
  HostData data;
};

// address_of: the address in an AF_INET or AF_INET6 socket address.
const void* address_of(const sockaddr* sa);

// canonical_name follows the CNAME chain c-ares recorded from the name asked, stopping
// before a target that is not a host name, as glibc's nss_dns does.
std::string canonical_name(const ares_addrinfo* ai);

// host_data_of: a forward lookup's hostent (the canonical name, the chain's other names as
// aliases, the addresses of family `af` in c-ares's order), or a copy of glibc's.
HostData host_data_of(const ares_addrinfo* ai, int af);
HostData host_data_of(const hostent* h);

// pack_hostent lays a result out in the caller's buffer; false when it does not fit.
bool pack_hostent(const HostData& d, hostent* ret, char* buf, std::size_t buflen);

}  // namespace co::dns
