// glibc 2.36's "dns" hosts source (resolv/nss_dns/dns-host.c over res_query.c), with the
// packets exchanged by c-ares instead of res_send: the same search-list and ndots rules, the
// same A+AAAA pairing, the same reading of answers (CNAME chains, host-name checks,
// canonical names), and the same NSS status, h_errno and errno for every failure. The
// "files" source is glibc's own (the callers hand names /etc/hosts knows to glibc).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "resolver_config.h"

namespace co::dns {

// enum nss_status, with glibc's values.
enum class NssStatus : int { tryagain = -2, unavail = -1, notfound = 0, success = 1 };

struct Address {
  int family = 0;  // AF_INET or AF_INET6
  std::array<unsigned char, 16> bytes{};
};

// _nss_dns_gethostbyname2_r / 3_r: one family, with the result as a hostent would hold it.
struct HostLookup {
  NssStatus status = NssStatus::notfound;
  int herrno = 0;
  int err = 0;             // what the module leaves in errno (0: untouched)
  int global_herrno = -1;  // what res_search leaves in the thread's h_errno (-1: untouched)
  std::string name;        // h_name (also the canonical name)
  std::vector<std::string> aliases;  // h_aliases
  std::vector<Address> addresses;    // h_addr_list, in answer order
};

// check_name is true for gethostbyname2_r (which rejects names that are not host names
// without sending anything) and false for gethostbyname3_r.
HostLookup dns_gethostbyname3(const ResolvConf& conf, const char* name, int af, bool check_name);

// _nss_dns_gethostbyname4_r: A and AAAA in parallel (A only with "options no-aaaa").
struct AddressTuple {
  Address address;
  std::string name;  // the canonical name, on the first tuple only
  bool has_name = false;
};
struct Host4Lookup {
  NssStatus status = NssStatus::notfound;
  int herrno = 0;
  int err = 0;
  int global_herrno = -1;
  std::vector<AddressTuple> tuples;
};
Host4Lookup dns_gethostbyname4(const ResolvConf& conf, const char* name);

// _nss_dns_gethostbyaddr2_r: the PTR name of an address.
struct PtrLookup {
  NssStatus status = NssStatus::notfound;
  int herrno = 0;
  int global_herrno = -1;
  std::string name;
};
PtrLookup dns_gethostbyaddr(const ResolvConf& conf, const void* addr, socklen_t len, int af);

}  // namespace co::dns
