// Lookups through c-ares, each on a channel of its own (an ares_dup of this thread's template)
// driven by the calling coroutine, so that a wait ended early destroys just that channel:
// c-ares 1.18.1 cancels only whole channels. README: "Threads, channels, the netpoller",
// "Cancellation". Call these only in a coroutine whose hooks are on.
#pragma once

#include <ares.h>
#include <netdb.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace co::dns {

// A hostent as data (netdb_hooks.cpp lays it out as glibc does).
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

// Each returns c-ares's status; ARES_ECANCELLED (which c-ares itself gives only to
// ares_cancel, never called here) with errno ECANCELED or ETIMEDOUT when the coroutine's
// wait was ended first.
using AresAddrinfo = std::unique_ptr<ares_addrinfo, decltype(&ares_freeaddrinfo)>;

// resolve_name: ares_getaddrinfo, DNS only (numeric hosts and /etc/hosts are the caller's);
// `sort`: c-ares's RFC 6724 sort, else the answers' order.
int resolve_name(const char* name, int family, bool sort, AresAddrinfo* result);

// resolve_address: an address's hostent: its PTR name, the other PTR names as aliases.
int resolve_address(const void* addr, int len, int family, HostData* result);

// query: ares_search (`search`) or ares_query; the response, when there is one, in *packet
// (for NXDOMAIN and no-data answers too).
int query(const char* name, int dns_class, int type, bool search,
          std::vector<unsigned char>* packet);

std::uint64_t packets_sent();  // by c-ares, all threads

}  // namespace co::dns
