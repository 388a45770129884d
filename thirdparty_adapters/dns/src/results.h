// Results as glibc lays them out, built from what c-ares returns: getaddrinfo lists that
// glibc's freeaddrinfo frees (one malloc per entry holding the addrinfo and its sockaddr,
// ai_canonname a separate string on the first entry) and hostents packed into the caller's
// buffer. Plus the two rules of glibc's that c-ares 1.18.1 does not apply: res_hnok (a name
// that is not a host name is never sent) and skipping CNAME targets that are not host names.
#pragma once

#include <ares.h>
#include <netdb.h>
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace co::dns {

struct Address {
  int family = AF_INET;  // AF_INET or AF_INET6
  std::array<unsigned char, 16> bytes{};
};

struct HostData {
  std::string name;
  std::vector<std::string> aliases;
  std::vector<Address> addresses;
  int af = AF_INET;
};

// The outcome of a gethostbyname_r/gethostbyaddr_r-style call, before it is copied out.
struct HostCall {
  int rc = 0;              // the _r function's return value
  int herrno = 0;          // *h_errnop
  int err = 0;             // errno after the call
  int global_herrno = -1;  // the thread's h_errno as glibc left it (-1: untouched)
  bool found = false;
  HostData data;
};

// A (socket type, protocol, port) getaddrinfo makes an entry for, per address.
struct ServTuple {
  int socktype;
  int protocol;
  in_port_t port;  // network order
};

// res_hnok: glibc's host-name check (printable, labels of letters, digits, '-' and '_', the
// first not starting with '-', encodable as a DNS name).
bool res_hnok(const char* name);

// canonical_name follows the CNAME chain c-ares recorded from the name asked, stopping
// before a target that is not a host name, as glibc's nss_dns does.
std::string canonical_name(const ares_addrinfo* ai);

// host_data_of: the hostent of a forward lookup: the canonical name, the chain's names as
// aliases, the addresses in c-ares's order (mapped to IPv6 when `af` is AF_INET6 and
// the address is IPv4).
HostData host_data_of(const ares_addrinfo* ai, int af);
HostData host_data_of(const hostent* h);

// pack_hostent lays a result out in the caller's buffer; false when it does not fit.
bool pack_hostent(const HostData& d, hostent* ret, char* buf, std::size_t buflen);

// make_addrinfo builds the list, one entry per address and tuple, the canonical name (when
// not null) on the first; 0 or EAI_MEMORY.
int make_addrinfo(const std::vector<Address>& addresses, const std::vector<ServTuple>& tuples,
                  int flags, const std::string* canon, addrinfo** head);

}  // namespace co::dns
