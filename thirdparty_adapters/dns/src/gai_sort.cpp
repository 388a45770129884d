#include "gai_sort.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <functional>
#include <map>
#include <vector>

namespace co::dns {
namespace {

// Raw system calls: these sockets never become visible to the hooks or the netpoller.
int sys_socket(int domain, int type, int protocol) {
  return static_cast<int>(::syscall(SYS_socket, domain, type, protocol));
}
int sys_close(int fd) { return static_cast<int>(::syscall(SYS_close, fd)); }
int sys_connect(int fd, const sockaddr* a, socklen_t len) {
  return static_cast<int>(::syscall(SYS_connect, fd, a, len));
}

class RawFd {
 public:
  explicit RawFd(int fd) : fd_(fd) {}
  ~RawFd() {
    if (fd_ >= 0) sys_close(fd_);
  }
  RawFd(const RawFd&) = delete;
  RawFd& operator=(const RawFd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) sys_close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// netlink_dump sends one RTM_GET* dump request and hands every reply message to `each`.
bool netlink_dump(int type, const std::function<void(const nlmsghdr*)>& each) {
  RawFd fd(sys_socket(PF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (fd.get() < 0) return false;
  sockaddr_nl nladdr{};
  nladdr.nl_family = AF_NETLINK;
  socklen_t alen = sizeof nladdr;
  if (::syscall(SYS_bind, fd.get(), &nladdr, sizeof nladdr) != 0 ||
      ::syscall(SYS_getsockname, fd.get(), &nladdr, &alen) != 0) {
    return false;
  }
  const std::uint32_t pid = nladdr.nl_pid;
  struct {
    nlmsghdr nlh;
    ifaddrmsg msg;
  } req{};
  req.nlh.nlmsg_len = sizeof req;
  req.nlh.nlmsg_type = static_cast<std::uint16_t>(type);
  req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nlh.nlmsg_seq = 1;
  req.msg.ifa_family = AF_UNSPEC;
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  if (::syscall(SYS_sendto, fd.get(), &req, sizeof req, 0, &to, sizeof to) < 0) return false;
  std::vector<char> buf(16384);
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    sockaddr_nl from{};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const long n = ::syscall(SYS_recvmsg, fd.get(), &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (msg.msg_flags & MSG_TRUNC) return false;
    std::size_t len = static_cast<std::size_t>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (from.nl_pid != 0 || h->nlmsg_pid != pid || h->nlmsg_seq != req.nlh.nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return true;
      if (h->nlmsg_type == NLMSG_ERROR) return false;
      each(h);
    }
  }
}

constexpr std::uint8_t kDeprecated = 1;   // in6ai_deprecated
constexpr std::uint8_t kHomeAddress = 2;  // in6ai_homeaddress

// __check_native: does the interface carry traffic natively (not a tunnel)?
std::map<std::uint32_t, int> link_nativeness() {
  std::map<std::uint32_t, int> out;
  netlink_dump(RTM_GETLINK, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    const bool tunnel = ifi->ifi_type == ARPHRD_TUNNEL6 || ifi->ifi_type == ARPHRD_TUNNEL ||
                        ifi->ifi_type == ARPHRD_SIT;
    out[static_cast<std::uint32_t>(ifi->ifi_index)] = tunnel ? 0 : 1;
  });
  return out;
}

struct SortResult {
  addrinfo* dest_addr;
  sockaddr_in6 source_addr;
  bool got_source_addr;
  std::uint8_t source_addr_flags;
  std::uint8_t prefixlen;
  std::uint32_t index;
  int native;
};

struct SortContext {
  std::vector<SortResult>* results = nullptr;
  bool native_known = false;
  std::map<std::uint32_t, int> native;
};

struct ScopeEntry {
  std::uint8_t addr[4];
  std::uint32_t netmask;  // host order
  int scope;
};
// glibc's default IPv4 scopes (scopev4 in gai.conf): Debian's 2.36 no longer gives the RFC
// 1918 networks site-local scope (checked against glibc by dns_glibc_oracle).
const ScopeEntry kScopes[] = {
    {{169, 254, 0, 0}, 0xffff0000u, 2},
    {{127, 0, 0, 0}, 0xff000000u, 2},
    {{0, 0, 0, 0}, 0x00000000u, 14},
};

struct PrefixEntry {
  std::uint8_t prefix[16];
  unsigned bits;
  int val;
};
const PrefixEntry kLabels[] = {
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, 0},
    {{0x20, 0x02}, 16, 2},
    {{}, 96, 3},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, 4},
    {{0xfe, 0xc0}, 10, 5},
    {{0xfc, 0x00}, 7, 6},
    {{0x20, 0x01, 0, 0}, 32, 7},
    {{}, 0, 1},
};
const PrefixEntry kPrecedence[] = {
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, 50},
    {{0x20, 0x02}, 16, 30},
    {{}, 96, 20},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, 10},
    {{}, 0, 40},
};

int get_scope(const sockaddr_in6* in6) {
  if (in6->sin6_family == AF_INET6) {
    if (!IN6_IS_ADDR_MULTICAST(&in6->sin6_addr)) {
      if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) || IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return 2;
      if (IN6_IS_ADDR_SITELOCAL(&in6->sin6_addr)) return 5;
      return 14;
    }
    return in6->sin6_addr.s6_addr[1] & 0xf;
  }
  if (in6->sin6_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(in6);
    const std::uint32_t a = ntohl(in->sin_addr.s_addr);
    for (const ScopeEntry& e : kScopes) {
      const std::uint32_t net = (std::uint32_t{e.addr[0]} << 24) |
                                (std::uint32_t{e.addr[1]} << 16) | (std::uint32_t{e.addr[2]} << 8) |
                                e.addr[3];
      if ((a & e.netmask) == net) return e.scope;
    }
  }
  return 15;
}

template <std::size_t N>
int match_prefix(const sockaddr_in6* in6, const PrefixEntry (&list)[N], int default_val) {
  sockaddr_in6 mapped{};
  if (in6->sin6_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(in6);
    mapped.sin6_family = AF_INET6;
    mapped.sin6_addr.s6_addr[10] = 0xff;
    mapped.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(mapped.sin6_addr.s6_addr + 12, &in->sin_addr, 4);
    in6 = &mapped;
  } else if (in6->sin6_family != AF_INET6) {
    return default_val;
  }
  for (const PrefixEntry& e : list) {
    unsigned bits = e.bits;
    const std::uint8_t* mask = e.prefix;
    const std::uint8_t* val = in6->sin6_addr.s6_addr;
    while (bits >= 8) {
      if (*mask != *val) break;
      ++mask;
      ++val;
      bits -= 8;
    }
    if (bits < 8 && (*mask & (0xff00 >> bits)) == (*val & (0xff00 >> bits))) return e.val;
  }
  return default_val;
}

int get_label(const sockaddr_in6* in6) { return match_prefix(in6, kLabels, INT_MAX); }
int get_precedence(const sockaddr_in6* in6) { return match_prefix(in6, kPrecedence, 0); }

// glibc's "fls": the number of leading zero bits.
int fls(std::uint32_t a) {
  int n = 0;
  for (std::uint32_t mask = 1u << 31; n < 32; mask >>= 1, ++n) {
    if ((a & mask) != 0) break;
  }
  return n;
}

std::uint32_t netmask_of(std::uint8_t prefixlen) {
  // glibc computes 0xffffffff << (32 - prefixlen); with no prefix known (0) the shift count
  // is 32, which x86-64 and AArch64 reduce to 0.
  return prefixlen == 0 ? 0xffffffffu : 0xffffffffu << (32 - prefixlen);
}

int rfc3484_compare(const void* p1, const void* p2, void* arg) {
  const std::size_t idx1 = *static_cast<const std::size_t*>(p1);
  const std::size_t idx2 = *static_cast<const std::size_t*>(p2);
  auto* ctx = static_cast<SortContext*>(arg);
  SortResult* a1 = &(*ctx->results)[idx1];
  SortResult* a2 = &(*ctx->results)[idx2];

  // Rule 1: Avoid unusable destinations.
  if (a1->got_source_addr && !a2->got_source_addr) return -1;
  if (!a1->got_source_addr && a2->got_source_addr) return 1;

  // Rule 2: Prefer matching scope.
  const int a1_dst_scope = get_scope(reinterpret_cast<const sockaddr_in6*>(a1->dest_addr->ai_addr));
  const int a2_dst_scope = get_scope(reinterpret_cast<const sockaddr_in6*>(a2->dest_addr->ai_addr));
  if (a1->got_source_addr) {
    const int a1_src_scope = get_scope(&a1->source_addr);
    const int a2_src_scope = get_scope(&a2->source_addr);
    if (a1_dst_scope == a1_src_scope && a2_dst_scope != a2_src_scope) return -1;
    if (a1_dst_scope != a1_src_scope && a2_dst_scope == a2_src_scope) return 1;
  }

  // Rule 3: Avoid deprecated addresses.
  if (a1->got_source_addr) {
    if (!(a1->source_addr_flags & kDeprecated) && (a2->source_addr_flags & kDeprecated)) return -1;
    if ((a1->source_addr_flags & kDeprecated) && !(a2->source_addr_flags & kDeprecated)) return 1;
  }

  // Rule 4: Prefer home addresses.
  if (a1->got_source_addr) {
    if (!(a1->source_addr_flags & kHomeAddress) && (a2->source_addr_flags & kHomeAddress)) return 1;
    if ((a1->source_addr_flags & kHomeAddress) && !(a2->source_addr_flags & kHomeAddress))
      return -1;
  }

  // Rule 5: Prefer matching label.
  if (a1->got_source_addr) {
    const int a1_dst_label =
        get_label(reinterpret_cast<const sockaddr_in6*>(a1->dest_addr->ai_addr));
    const int a1_src_label = get_label(&a1->source_addr);
    const int a2_dst_label =
        get_label(reinterpret_cast<const sockaddr_in6*>(a2->dest_addr->ai_addr));
    const int a2_src_label = get_label(&a2->source_addr);
    if (a1_dst_label == a1_src_label && a2_dst_label != a2_src_label) return -1;
    if (a1_dst_label != a1_src_label && a2_dst_label == a2_src_label) return 1;
  }

  // Rule 6: Prefer higher precedence.
  const int a1_prec = get_precedence(reinterpret_cast<const sockaddr_in6*>(a1->dest_addr->ai_addr));
  const int a2_prec = get_precedence(reinterpret_cast<const sockaddr_in6*>(a2->dest_addr->ai_addr));
  if (a1_prec > a2_prec) return -1;
  if (a1_prec < a2_prec) return 1;

  // Rule 7: Prefer native transport.
  if (a1->got_source_addr && a1->index != a2->index) {
    int a1_native = a1->native;
    int a2_native = a2->native;
    if (a1_native == -1 || a2_native == -1) {
      if (!ctx->native_known) {
        ctx->native = link_nativeness();
        ctx->native_known = true;
      }
      auto lookup = [&](std::uint32_t index) {
        const auto it = ctx->native.find(index);
        return it == ctx->native.end() ? 0 : it->second;
      };
      if (a1_native == -1) a1_native = lookup(a1->index);
      if (a2_native == -1) a2_native = lookup(a2->index);
      for (SortResult& r : *ctx->results) {
        if (r.index == a1->index) r.native = a1_native;
        if (r.index == a2->index) r.native = a2_native;
      }
    }
    if (a1_native && !a2_native) return -1;
    if (!a1_native && a2_native) return 1;
  }

  // Rule 8: Prefer smaller scope.
  if (a1_dst_scope < a2_dst_scope) return -1;
  if (a1_dst_scope > a2_dst_scope) return 1;

  // Rule 9: Use longest matching prefix.
  if (a1->got_source_addr && a1->dest_addr->ai_family == a2->dest_addr->ai_family) {
    int bit1 = 0;
    int bit2 = 0;
    if (a1->dest_addr->ai_family == AF_INET) {
      auto v4 = [](const void* sa) {
        return ntohl(static_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
      };
      const std::uint32_t d1 = v4(a1->dest_addr->ai_addr), s1 = v4(&a1->source_addr);
      const std::uint32_t d2 = v4(a2->dest_addr->ai_addr), s2 = v4(&a2->source_addr);
      const std::uint32_t m1 = netmask_of(a1->prefixlen), m2 = netmask_of(a2->prefixlen);
      if ((s1 & m1) == (d1 & m1)) bit1 = fls(d1 ^ s1);
      if ((s2 & m2) == (d2 & m2)) bit2 = fls(d2 ^ s2);
    } else if (a1->dest_addr->ai_family == AF_INET6) {
      const auto* d1 = reinterpret_cast<const sockaddr_in6*>(a1->dest_addr->ai_addr);
      const auto* d2 = reinterpret_cast<const sockaddr_in6*>(a2->dest_addr->ai_addr);
      auto word = [](const sockaddr_in6* a, int i) {
        std::uint32_t w;
        std::memcpy(&w, a->sin6_addr.s6_addr + 4 * i, 4);
        return w;
      };
      int i;
      for (i = 0; i < 4; ++i) {
        if (word(d1, i) != word(&a1->source_addr, i) || word(d2, i) != word(&a2->source_addr, i)) {
          break;
        }
      }
      if (i < 4) {
        bit1 = fls(ntohl(word(d1, i) ^ word(&a1->source_addr, i)));
        bit2 = fls(ntohl(word(d2, i) ^ word(&a2->source_addr, i)));
      }
    }
    if (bit1 > bit2) return -1;
    if (bit1 < bit2) return 1;
  }

  // Rule 10: Otherwise, leave the order unchanged.
  return idx1 < idx2 ? -1 : 1;
}

}  // namespace

InterfaceInfo check_pf() {
  InterfaceInfo info;
  bool seen_ipv4 = false;
  bool seen_ipv6 = false;
  std::vector<InterfaceAddress> list;
  const bool ok = netlink_dump(RTM_GETADDR, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWADDR) return;
    const auto* ifam = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
    if (ifam->ifa_family != AF_INET && ifam->ifa_family != AF_INET6) return;
    const void* local = nullptr;
    const void* address = nullptr;
    std::size_t len = h->nlmsg_len - NLMSG_LENGTH(sizeof *ifam);
    for (auto* rta = IFA_RTA(ifam); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
      if (rta->rta_type == IFA_LOCAL) local = RTA_DATA(rta);
      if (rta->rta_type == IFA_ADDRESS) {
        address = RTA_DATA(rta);
        break;
      }
    }
    if (address == nullptr) address = local;
    if (address != nullptr) {
      if (ifam->ifa_family == AF_INET) {
        std::uint32_t a;
        std::memcpy(&a, address, 4);
        if (a != htonl(INADDR_LOOPBACK)) seen_ipv4 = true;
      } else if (!IN6_IS_ADDR_LOOPBACK(static_cast<const in6_addr*>(address))) {
        seen_ipv6 = true;
      }
    }
    InterfaceAddress ia{};
    ia.flags = ((ifam->ifa_flags & (IFA_F_DEPRECATED | IFA_F_OPTIMISTIC)) ? kDeprecated : 0) |
               ((ifam->ifa_flags & IFA_F_HOMEADDRESS) ? kHomeAddress : 0);
    ia.prefixlen = ifam->ifa_prefixlen;
    ia.index = ifam->ifa_index;
    if (address != nullptr) {
      if (ifam->ifa_family == AF_INET) {
        ia.addr[2] = htonl(0xffff);
        std::memcpy(&ia.addr[3], address, 4);
      } else {
        std::memcpy(ia.addr, address, 16);
      }
    }
    list.push_back(ia);
  });
  if (!ok) return info;  // pessimistic: both seen, no address details
  info.seen_ipv4 = seen_ipv4;
  info.seen_ipv6 = seen_ipv6;
  if (seen_ipv6) info.addresses = std::move(list);
  return info;
}

addrinfo* sort_addrinfo(addrinfo* list, int nresults, const InterfaceInfo* known_pf) {
  const InterfaceInfo pf = known_pf != nullptr ? *known_pf : check_pf();
  std::vector<InterfaceAddress> in6ai = pf.addresses;
  auto in6aicmp = [](const void* p1, const void* p2) {
    return std::memcmp(static_cast<const InterfaceAddress*>(p1)->addr,
                       static_cast<const InterfaceAddress*>(p2)->addr, 16);
  };
  if (!in6ai.empty()) ::qsort(in6ai.data(), in6ai.size(), sizeof in6ai[0], in6aicmp);

  std::vector<SortResult> results(static_cast<std::size_t>(nresults));
  std::vector<std::size_t> order(results.size());
  RawFd fd(-1);
  int af = AF_UNSPEC;
  char* canonname = nullptr;
  addrinfo* last = nullptr;
  std::size_t i = 0;
  for (addrinfo* q = list; q != nullptr; ++i, last = q, q = q->ai_next) {
    SortResult& r = results[i];
    r.dest_addr = q;
    r.native = -1;
    order[i] = i;
    if (last != nullptr && last->ai_addrlen == q->ai_addrlen &&
        std::memcmp(last->ai_addr, q->ai_addr, q->ai_addrlen) == 0) {
      const SortResult& prev = results[i - 1];
      r.source_addr = prev.source_addr;
      r.got_source_addr = prev.got_source_addr;
      r.source_addr_flags = prev.source_addr_flags;
      r.prefixlen = prev.prefixlen;
      r.index = prev.index;
    } else {
      r.got_source_addr = false;
      r.source_addr_flags = 0;
      r.prefixlen = 0;
      r.index = 0xffffffffu;
      std::memset(&r.source_addr, 0, sizeof r.source_addr);
      // SOCK_DGRAM: connect() picks a source address without sending anything.
      if (fd.get() == -1 || (af == AF_INET && q->ai_family == AF_INET6)) {
        af = q->ai_family;
        fd.reset(sys_socket(af, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_IP));
      } else {
        sockaddr sa{};
        sa.sa_family = AF_UNSPEC;
        sys_connect(fd.get(), &sa, sizeof sa);
      }
      bool got = false;
      for (;;) {
        socklen_t sl = sizeof r.source_addr;
        if (fd.get() != -1 && sys_connect(fd.get(), q->ai_addr, q->ai_addrlen) == 0 &&
            ::syscall(SYS_getsockname, fd.get(), &r.source_addr, &sl) == 0) {
          got = true;
          break;
        }
        if (errno == EAFNOSUPPORT && af == AF_INET6 && q->ai_family == AF_INET) {
          af = AF_INET;
          fd.reset(sys_socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_IP));
          continue;
        }
        break;
      }
      if (got) {
        r.got_source_addr = true;
        if (!in6ai.empty()) {
          InterfaceAddress tmp{};
          if (q->ai_family == AF_INET && af == AF_INET) {
            const auto* sinp = reinterpret_cast<const sockaddr_in*>(&r.source_addr);
            tmp.addr[2] = htonl(0xffff);
            // The lo interface: the source may differ from the interface address.
            if ((ntohl(sinp->sin_addr.s_addr) & 0xff000000u) == 0x7f000000u) {
              tmp.addr[3] = htonl(0x7f000001u);
            } else {
              tmp.addr[3] = sinp->sin_addr.s_addr;
            }
          } else {
            std::memcpy(tmp.addr, &r.source_addr.sin6_addr, 16);
          }
          const void* found =
              ::bsearch(&tmp, in6ai.data(), in6ai.size(), sizeof in6ai[0], in6aicmp);
          if (found != nullptr) {
            const auto* f = static_cast<const InterfaceAddress*>(found);
            r.source_addr_flags = f->flags;
            r.prefixlen = f->prefixlen;
            r.index = f->index;
          }
        }
        if (q->ai_family == AF_INET && af == AF_INET6) {
          // An IPv6 socket reported a v4-mapped source: convert it.
          sockaddr_in sin{};
          sin.sin_family = AF_INET;
          sin.sin_port = r.source_addr.sin6_port;
          std::memcpy(&sin.sin_addr, r.source_addr.sin6_addr.s6_addr + 12, 4);
          std::memset(&r.source_addr, 0, sizeof r.source_addr);
          std::memcpy(&r.source_addr, &sin, sizeof sin);
        }
      }
    }
    if (q->ai_canonname != nullptr) {
      canonname = q->ai_canonname;
      q->ai_canonname = nullptr;
    }
  }
  SortContext ctx;
  ctx.results = &results;
  ::qsort_r(order.data(), order.size(), sizeof order[0], rfc3484_compare, &ctx);
  addrinfo* head = results[order[0]].dest_addr;
  addrinfo* q = head;
  for (std::size_t k = 1; k < order.size(); ++k) q = q->ai_next = results[order[k]].dest_addr;
  q->ai_next = nullptr;
  head->ai_canonname = canonname;
  return head;
}

}  // namespace co::dns
