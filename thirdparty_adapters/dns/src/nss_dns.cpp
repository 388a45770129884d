#include "nss_dns.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "cares_channel.h"
#include "dns_wire.h"

namespace co::dns {
namespace {

enum class QueryKind { a, aaaa, a_and_aaaa, ptr };

// What __res_context_query / __res_context_search return: n > 0 (or a second answer only)
// on success, else -1 with h_errno, errno and whether the last response was SERVFAIL.
struct QueryResult {
  bool ok = false;
  int herrno = HOST_NOT_FOUND;
  int err = 0;
  bool servfail = false;
  // glibc's RES_SET_H_ERRNO also sets the thread's h_errno: its value afterwards (-1: as
  // before).
  int global_herrno = -1;
  std::vector<unsigned char> answer1;  // the A (or only) response; may be empty
  std::vector<unsigned char> answer2;  // the AAAA response of a pair; may be empty
};

struct Header {
  int rcode = 0;
  int ancount = 0;
};

Header header_of(const std::vector<unsigned char>& p) {
  return Header{p[3] & 0x0f, (p[6] << 8) | p[7]};
}

bool usable(const QueryOutcome& o) {
  return o.kind == QueryOutcome::Kind::packet && o.packet.size() >= 12;
}

QueryResult res_query_impl(const ResolvConf& conf, const std::string& name, QueryKind kind);

// __res_context_query for one name: every failure goes through RES_SET_H_ERRNO.
QueryResult res_query(const ResolvConf& conf, const std::string& name, QueryKind kind) {
  QueryResult r = res_query_impl(conf, name, kind);
  if (!r.ok) r.global_herrno = r.herrno;
  return r;
}

QueryResult res_query_impl(const ResolvConf& conf, const std::string& name, QueryKind kind) {
  QueryResult r;
  // "options no-aaaa" (__res_handle_no_aaaa): an AAAA query goes out as an A query, and the
  // response comes back with its records removed: NODATA, or the server's error.
  const bool aaaa_suppressed = kind == QueryKind::aaaa && conf.no_aaaa;
  std::vector<Question> qs;
  switch (kind) {
    case QueryKind::a: qs.push_back({name, kTypeA}); break;
    case QueryKind::aaaa: qs.push_back({name, aaaa_suppressed ? kTypeA : kTypeAaaa}); break;
    case QueryKind::a_and_aaaa:
      qs.push_back({name, kTypeA});
      qs.push_back({name, kTypeAaaa});
      break;
    case QueryKind::ptr: qs.push_back({name, kTypePtr}); break;
  }
  std::vector<QueryOutcome> out = send_queries(conf, qs);
  for (const QueryOutcome& o : out) {
    if (o.kind == QueryOutcome::Kind::bad_name) {
      r.herrno = NO_RECOVERY;  // res_mkquery failed
      return r;
    }
  }
  const bool have1 = usable(out[0]);
  const bool have2 = out.size() > 1 && usable(out[1]);
  if (!have1 && !have2) {
    // res_send failed: TRY_AGAIN, errno ECONNREFUSED when no server was ever reached.
    bool all_refused = true;
    for (const QueryOutcome& o : out) {
      all_refused &= o.kind == QueryOutcome::Kind::conn_refused;
      r.servfail |= o.kind == QueryOutcome::Kind::servfail;
    }
    r.herrno = TRY_AGAIN;
    r.err = all_refused ? ECONNREFUSED : ETIMEDOUT;
    return r;
  }
  if (have1) r.answer1 = std::move(out[0].packet);
  if (have2) r.answer2 = std::move(out[1].packet);
  // With one response missing, glibc evaluates the one it has twice.
  Header hp = header_of(have1 ? r.answer1 : r.answer2);
  if (aaaa_suppressed) hp.ancount = 0;
  const Header hp2 = have2 ? header_of(r.answer2) : hp;
  if ((hp.rcode != kRcodeNoError || hp.ancount == 0) &&
      (hp2.rcode != kRcodeNoError || hp2.ancount == 0)) {
    const bool other_has_answer = (hp.rcode == kRcodeNoError && hp.ancount != 0) ||
                                  (hp2.rcode == kRcodeNoError && hp2.ancount != 0);
    switch (hp.rcode == kRcodeNoError ? hp2.rcode : hp.rcode) {
      case kRcodeNxDomain:
        if (other_has_answer) break;
        r.herrno = HOST_NOT_FOUND;
        return r;
      case kRcodeServFail:
        r.herrno = TRY_AGAIN;
        r.servfail = true;
        return r;
      case kRcodeNoError: r.herrno = NO_DATA; return r;
      case kRcodeFormErr:
      case kRcodeNotImp:
        if (other_has_answer) break;
        r.herrno = NO_RECOVERY;
        return r;
      default: r.herrno = NO_RECOVERY; return r;
    }
  }
  r.ok = true;
  return r;
}

// HOSTALIASES: a file of "alias name" lines, consulted for names without dots.
bool host_alias(const std::string& name, std::string* out) {
  const char* file = ::secure_getenv("HOSTALIASES");
  if (file == nullptr) return false;
  std::ifstream in(file);
  std::string line;
  auto norm = [](std::string s) {
    if (!s.empty() && s.back() == '.') s.pop_back();
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  while (in && std::getline(in, line)) {
    std::size_t i = 0;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    if (norm(line.substr(0, i)) != norm(name)) continue;
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    std::size_t j = i + 1;
    while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
    *out = line.substr(i, j - i);
    return true;
  }
  return false;
}

constexpr std::size_t kMaxDname = 1025;  // MAXDNAME

// __res_context_querydomain.
QueryResult query_domain(const ResolvConf& conf, const std::string& name, const char* domain,
                         QueryKind kind) {
  std::string longname;
  if (domain == nullptr) {
    if (name.empty() || name.size() - 1 >= kMaxDname - 1) {
      QueryResult r;
      r.herrno = NO_RECOVERY;
      r.global_herrno = NO_RECOVERY;
      return r;
    }
    longname = name;
  } else {
    if (name.size() + std::strlen(domain) + 1 >= kMaxDname) {
      QueryResult r;
      r.herrno = NO_RECOVERY;
      r.global_herrno = NO_RECOVERY;
      return r;
    }
    longname = name + "." + domain;
  }
  return res_query(conf, longname, kind);
}

// __res_context_search.
QueryResult res_search(const ResolvConf& conf, const std::string& name, QueryKind kind) {
  std::size_t dots = 0;
  for (char c : name) dots += c == '.';
  const bool trailing_dot = !name.empty() && name.back() == '.';
  if (dots == 0) {
    std::string alias;
    if (host_alias(name, &alias)) return res_query(conf, alias, kind);
  }
  int saved_herrno = -1;
  int got_nodata = 0, got_servfail = 0, root_on_list = 0, tried_as_is = 0, searched = 0;
  int err = 0;                  // errno: left by the last exchange
  int global = HOST_NOT_FOUND;  // h_errno: "true if we never query"
  auto note = [&](const QueryResult& r) {
    err = r.err;
    if (r.global_herrno != -1) global = r.global_herrno;
  };
  auto done_with = [&](QueryResult r) {
    note(r);
    r.global_herrno = global;
    return r;
  };
  if (dots >= static_cast<std::size_t>(conf.ndots) || trailing_dot) {
    QueryResult r = query_domain(conf, name, nullptr, kind);
    if (r.ok || trailing_dot) return done_with(std::move(r));
    note(r);
    saved_herrno = r.herrno;
    ++tried_as_is;
  }
  if (!trailing_dot) {  // RES_DEFNAMES and RES_DNSRCH are always on
    for (const std::string& d : conf.search) {
      searched = 1;
      const char* dname = d.c_str();
      if (dname[0] == '.') ++dname;
      if (dname[0] == '\0') ++root_on_list;
      QueryResult r = query_domain(conf, name, dname, kind);
      if (r.ok) return done_with(std::move(r));
      note(r);
      if (err == ECONNREFUSED) {
        r.herrno = TRY_AGAIN;
        r.global_herrno = TRY_AGAIN;
        return r;
      }
      bool done = false;
      switch (r.herrno) {
        case NO_DATA: ++got_nodata; break;
        case HOST_NOT_FOUND: break;
        case TRY_AGAIN:
          if (r.servfail) {
            ++got_servfail;
            break;
          }
          done = true;
          break;
        default: done = true; break;
      }
      if (done) break;
    }
  }
  if ((dots != 0 || !searched || !conf.no_tld_query) && !(tried_as_is || root_on_list)) {
    QueryResult r = query_domain(conf, name, nullptr, kind);
    if (r.ok) return done_with(std::move(r));
    note(r);
  }
  QueryResult fail;
  fail.err = err;
  if (saved_herrno != -1) {
    global = saved_herrno;
  } else if (got_nodata) {
    global = NO_DATA;
  } else if (got_servfail) {
    global = TRY_AGAIN;
  }
  // What the caller reads is the resolver state's h_errno: the same value.
  fail.herrno = global;
  fail.global_herrno = global;
  return fail;
}

// The NSS status of a failed search (the dns module's switch on errno).
void failed_search(const QueryResult& r, NssStatus* status, int* herrno, int* err) {
  *status =
      (r.err == ECONNREFUSED || r.err == ETIMEDOUT) ? NssStatus::unavail : NssStatus::notfound;
  *herrno = r.herrno;
  *err = r.herrno == TRY_AGAIN ? EAGAIN : 0;
}

int rdata_length(std::uint16_t type) { return type == kTypeA ? 4 : type == kTypeAaaa ? 16 : -1; }

Address address_of(const unsigned char* rdata, std::uint16_t length) {
  Address a;
  a.family = length == 4 ? AF_INET : AF_INET6;
  std::memcpy(a.bytes.data(), rdata, length);
  return a;
}

// getanswer_r (for gethostbyname3_r).
void getanswer_r(const std::vector<unsigned char>& packet, std::uint16_t qtype, HostLookup* h) {
  RecordCursor c;
  if (!c.init(packet.data(), packet.size())) {
    h->status = NssStatus::unavail;
    h->herrno = NO_RECOVERY;
    return;
  }
  auto store_alias = [&](const WireName& n) {
    if (!binary_hnok(n)) return false;
    h->aliases.push_back(name_ntop(n));
    return true;
  };
  if (c.rcode() == kRcodeNxDomain || !store_alias(c.qname())) {
    h->status = NssStatus::notfound;
    h->herrno = HOST_NOT_FOUND;
    h->err = ENOENT;
    return;
  }
  WireName expected = c.qname();
  for (int an = c.ancount(); an > 0; --an) {
    ResourceRecord rr;
    if (!c.next(&rr)) {
      h->status = NssStatus::unavail;
      h->herrno = NO_RECOVERY;
      return;
    }
    if (rr.rclass != kClassIn) continue;
    if (rr.type == kTypeCname) {
      WireName target;
      if (!c.unpack(rr.rdata, &target)) {
        h->status = NssStatus::unavail;
        h->herrno = NO_RECOVERY;
        return;
      }
      store_alias(target);
      expected = target;
    } else if (rr.type == qtype && same_binary_name(rr.name, expected) &&
               rr.rdlength == rdata_length(qtype)) {
      h->addresses.push_back(address_of(rr.rdata, rr.rdlength));
    }
  }
  if (h->addresses.empty()) {
    h->status = NssStatus::tryagain;
    h->herrno = NO_RECOVERY;
    h->err = ENOENT;
    return;
  }
  h->status = NssStatus::success;
  h->herrno = 0;
  h->name = h->aliases.back();
  h->aliases.pop_back();
}

// gaih_getanswer_slice.
NssStatus getanswer_slice(const std::vector<unsigned char>& packet, bool store_canon,
                          Host4Lookup* h) {
  RecordCursor c;
  if (!c.init(packet.data(), packet.size())) {
    h->herrno = NO_RECOVERY;
    return NssStatus::unavail;
  }
  const std::uint16_t qtype = c.qtype();
  if (c.ancount() == 0 || !binary_hnok(c.qname())) {
    h->herrno = HOST_NOT_FOUND;
    return NssStatus::notfound;
  }
  WireName expected = c.qname();
  WireName alias = c.qname();
  bool have_answer = false;
  for (int an = c.ancount(); an > 0; --an) {
    ResourceRecord rr;
    if (!c.next(&rr)) {
      h->herrno = NO_RECOVERY;
      return NssStatus::unavail;
    }
    if (rr.type == kTypeCname) {
      WireName target;
      if (!c.unpack(rr.rdata, &target)) {
        h->herrno = NO_RECOVERY;
        return NssStatus::unavail;
      }
      expected = target;
      if (store_canon && binary_hnok(target)) alias = target;
    } else if (rr.type == qtype && same_binary_name(rr.name, expected) &&
               rr.rdlength == rdata_length(qtype)) {
      AddressTuple t;
      t.address = address_of(rr.rdata, rr.rdlength);
      if (store_canon) {
        t.name = name_ntop(alias);
        t.has_name = true;
        store_canon = false;
      }
      h->tuples.push_back(std::move(t));
      have_answer = true;
    }
  }
  h->herrno = have_answer ? 0 : HOST_NOT_FOUND;
  return have_answer ? NssStatus::success : NssStatus::notfound;
}

// The name the gethostbyname* lookups query: a dotless name may be a HOSTALIASES alias, as in
// glibc's _nss_dns_gethostbyname{3,4}_r (res_search then looks aliases up again, as glibc's
// __res_context_search does).
std::string alias_or_name(const char* name) {
  std::string alias;
  if (std::strchr(name, '.') == nullptr && host_alias(name, &alias)) return alias;
  return name;
}

}  // namespace

HostLookup dns_gethostbyname3(const ResolvConf& conf, const char* name, int af, bool check_name) {
  HostLookup h;
  if (check_name && !res_hnok(name)) {
    h.status = NssStatus::notfound;
    h.herrno = HOST_NOT_FOUND;
    return h;
  }
  const std::string qname = alias_or_name(name);
  const std::uint16_t type = af == AF_INET ? kTypeA : kTypeAaaa;
  QueryResult r = res_search(conf, qname, af == AF_INET ? QueryKind::a : QueryKind::aaaa);
  h.global_herrno = r.global_herrno;
  if (!r.ok) {
    failed_search(r, &h.status, &h.herrno, &h.err);
    return h;
  }
  getanswer_r(r.answer1.empty() ? r.answer2 : r.answer1, type, &h);
  return h;
}

Host4Lookup dns_gethostbyname4(const ResolvConf& conf, const char* name) {
  Host4Lookup h;
  if (!res_hnok(name)) {
    h.status = NssStatus::notfound;
    h.herrno = HOST_NOT_FOUND;
    return h;
  }
  const std::string qname = alias_or_name(name);
  QueryResult r = res_search(conf, qname, conf.no_aaaa ? QueryKind::a : QueryKind::a_and_aaaa);
  h.global_herrno = r.global_herrno;
  if (!r.ok) {
    failed_search(r, &h.status, &h.herrno, &h.err);
    return h;
  }
  // gaih_getanswer: the first response's status, unless it failed and the second did not
  // simply find nothing.
  NssStatus status = NssStatus::notfound;
  if (!r.answer1.empty()) status = getanswer_slice(r.answer1, true, &h);
  if ((status == NssStatus::success || status == NssStatus::notfound) && !r.answer2.empty()) {
    const NssStatus status2 = getanswer_slice(r.answer2, status != NssStatus::success, &h);
    if (status != NssStatus::success && status2 != NssStatus::notfound) status = status2;
  }
  h.status = status;
  if (status != NssStatus::success) h.tuples.clear();
  return h;
}

PtrLookup dns_gethostbyaddr(const ResolvConf& conf, const void* addr, socklen_t len, int af) {
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char tunnelled[12] = {};
  static const unsigned char v6local[4] = {0, 0, 0, 1};
  const unsigned char* u = static_cast<const unsigned char*>(addr);
  PtrLookup p;
  if (af == AF_INET6 && len == 16 &&
      (std::memcmp(u, mapped, 12) == 0 ||
       (std::memcmp(u, tunnelled, 12) == 0 && std::memcmp(u + 12, v6local, 4) != 0))) {
    u += 12;
    af = AF_INET;
    len = 4;
  }
  char qbuf[80];
  if (af == AF_INET) {
    std::snprintf(qbuf, sizeof qbuf, "%u.%u.%u.%u.in-addr.arpa", u[3], u[2], u[1], u[0]);
  } else {
    static const char nibble[] = "0123456789abcdef";
    char* q = qbuf;
    for (int n = 15; n >= 0; --n) {
      *q++ = nibble[u[n] & 0xf];
      *q++ = '.';
      *q++ = nibble[(u[n] >> 4) & 0xf];
      *q++ = '.';
    }
    std::strcpy(q, "ip6.arpa");
  }
  QueryResult r = res_query(conf, qbuf, QueryKind::ptr);
  p.global_herrno = r.global_herrno;
  if (!r.ok) {
    p.herrno = r.herrno;
    p.status = r.err == ECONNREFUSED ? NssStatus::unavail : NssStatus::notfound;
    return p;
  }
  // getanswer_ptr.
  RecordCursor c;
  if (!c.init(r.answer1.data(), r.answer1.size())) {
    p.status = NssStatus::unavail;
    p.herrno = NO_RECOVERY;
    return p;
  }
  WireName expected = c.qname();
  for (int an = c.ancount(); an > 0;) {
    // glibc 2.36 does not count the records down here: it reads on until the packet ends.
    ResourceRecord rr;
    if (!c.next(&rr)) {
      p.status = NssStatus::unavail;
      p.herrno = NO_RECOVERY;
      return p;
    }
    if (rr.rclass != kClassIn) continue;
    if (rr.type == kTypeCname) {
      WireName target;
      if (!c.unpack(rr.rdata, &target)) {
        p.status = NssStatus::unavail;
        p.herrno = NO_RECOVERY;
        return p;
      }
      expected = target;
    } else if (rr.type == kTypePtr && same_binary_name(rr.name, expected)) {
      WireName target;
      if (!c.unpack(rr.rdata, &target) || !binary_hnok(expected)) {
        p.status = NssStatus::unavail;
        p.herrno = NO_RECOVERY;
        return p;
      }
      p.name = name_ntop(target);
      p.status = NssStatus::success;
      p.herrno = 0;
      return p;
    }
  }
  p.status = NssStatus::tryagain;
  p.herrno = NO_RECOVERY;
  return p;
}

}  // namespace co::dns
