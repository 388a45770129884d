#include "dns_responder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>

namespace dns_test {
namespace {

std::string ptr_name_v4(const char* addr) {
  in_addr a{};
  inet_pton(AF_INET, addr, &a);
  const auto* b = reinterpret_cast<const unsigned char*>(&a);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
  return buf;
}

std::string ptr_name_v6(const char* addr) {
  in6_addr a{};
  inet_pton(AF_INET6, addr, &a);
  static const char nibble[] = "0123456789abcdef";
  std::string out;
  for (int i = 15; i >= 0; --i) {
    out += nibble[a.s6_addr[i] & 0xf];
    out += '.';
    out += nibble[a.s6_addr[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

void add(Reply* r, std::uint16_t qtype, std::uint16_t type, const std::string& data,
         const std::string& owner = "") {
  if (qtype == type) r->answers.push_back(Record{owner, type, data});
}

// Appends a name in wire format (no compression).
void put_name(std::string* out, const std::string& name) {
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out->push_back(static_cast<char>(dot - start));
    out->append(name, start, dot - start);
    start = dot + 1;
  }
  out->push_back('\0');
}

void put16(std::string* out, std::uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

}  // namespace

// The test zone:
//   hN.test           A 10.0.N/256.N%256, AAAA fd00::1:N (hex)  (the concurrency proof)
//   v4only.test       A 192.0.2.10 (no AAAA)       v6only.test  AAAA 2001:db8::10 (no A)
//   multi.test        A 192.0.2.1 10.1.1.1 127.0.0.2, AAAA 2001:db8::1 fd00::1 ::1
//   real.test         A 192.0.2.20, AAAA 2001:db8::20
//   alias.test        CNAME real.test (+ its records)  chain.test CNAME c2.test CNAME real.test
//   badcname.test     CNAME "bad!name.test" (not a host name), which has A 192.0.2.21
//   cnameonly.test    CNAME nowhere.test, nothing else
//   nodata.test       the name exists, no records     servfail/refused.test  that rcode
//   drop.test         never answered                   short.example.test A 192.0.2.30
//   bare (a TLD)      A 192.0.2.31                    MiXeD.test   A 192.0.2.40
//   PTR: 192.0.2.10 -> v4only.test, 192.0.2.20 -> real.test, 2001:db8::10 -> v6only.test
//   anything else     NXDOMAIN
Reply test_zone(const std::string& q, std::uint16_t t) {
  Reply r;
  unsigned n = 0;
  char tail[8] = {};
  if (std::sscanf(q.c_str(), "h%u.%7s", &n, tail) == 2 && std::strcmp(tail, "test") == 0 &&
      q == "h" + std::to_string(n) + ".test") {
    char v4[32], v6[64];
    std::snprintf(v4, sizeof v4, "10.0.%u.%u", n / 256, n % 256);
    std::snprintf(v6, sizeof v6, "fd00::1:%x", n);
    add(&r, t, kA, v4);
    add(&r, t, kAaaa, v6);
    return r;
  }
  auto real = [&](Reply* rr) {
    add(rr, t, kA, "192.0.2.20", "real.test");
    add(rr, t, kAaaa, "2001:db8::20", "real.test");
  };
  if (q == "v4only.test") {
    add(&r, t, kA, "192.0.2.10");
  } else if (q == "v6only.test") {
    add(&r, t, kAaaa, "2001:db8::10");
  } else if (q == "multi.test") {
    add(&r, t, kA, "192.0.2.1");
    add(&r, t, kA, "10.1.1.1");
    add(&r, t, kA, "127.0.0.2");
    add(&r, t, kAaaa, "2001:db8::1");
    add(&r, t, kAaaa, "fd00::1");
    add(&r, t, kAaaa, "::1");
  } else if (q == "real.test") {
    add(&r, t, kA, "192.0.2.20");
    add(&r, t, kAaaa, "2001:db8::20");
  } else if (q == "alias.test") {
    r.answers.push_back(Record{"", kCname, "real.test"});
    real(&r);
  } else if (q == "chain.test") {
    r.answers.push_back(Record{"", kCname, "c2.test"});
    r.answers.push_back(Record{"c2.test", kCname, "real.test"});
    real(&r);
  } else if (q == "c2.test") {
    r.answers.push_back(Record{"", kCname, "real.test"});
    real(&r);
  } else if (q == "badcname.test") {
    r.answers.push_back(Record{"", kCname, "bad!name.test"});
    add(&r, t, kA, "192.0.2.21", "bad!name.test");
  } else if (q == "cnameonly.test") {
    r.answers.push_back(Record{"", kCname, "nowhere.test"});
  } else if (q == "nodata.test") {
    // NOERROR, no records
  } else if (q == "servfail.test") {
    r.rcode = 2;
  } else if (q == "refused.test") {
    r.rcode = 5;
  } else if (q == "drop.test") {
    r.drop = true;
  } else if (q == "short.example.test") {
    add(&r, t, kA, "192.0.2.30");
    add(&r, t, kAaaa, "2001:db8::30");
  } else if (q == "bare") {
    add(&r, t, kA, "192.0.2.31");
  } else if (q == "mixed.test") {
    add(&r, t, kA, "192.0.2.40");
  } else if (q == ptr_name_v4("192.0.2.10")) {
    add(&r, t, kPtr, "v4only.test");
  } else if (q == ptr_name_v4("192.0.2.20")) {
    add(&r, t, kPtr, "real.test");
  } else if (q == ptr_name_v6("2001:db8::10")) {
    add(&r, t, kPtr, "v6only.test");
  } else {
    r.rcode = 3;
  }
  return r;
}

Responder::Responder(Zone zone, std::chrono::milliseconds delay, const char* address,
                     std::uint16_t port)
    : zone_(std::move(zone)), delay_ms_(delay.count()), address_(address) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, address, &a.sin_addr);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

Responder::~Responder() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

std::string Responder::endpoint() const { return address_ + ":" + std::to_string(port_); }

std::vector<Question> Responder::questions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

std::size_t Responder::question_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_.size();
}

void Responder::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  log_.clear();
}

void Responder::run() {
  using Clock = std::chrono::steady_clock;
  struct Pending {
    std::string packet;
    sockaddr_in to;
  };
  std::multimap<Clock::time_point, Pending> due;
  unsigned char buf[4096];
  while (!stop_.load()) {
    int timeout = 20;
    if (!due.empty()) {
      const auto wait =
          std::chrono::duration_cast<std::chrono::milliseconds>(due.begin()->first - Clock::now());
      timeout = static_cast<int>(std::max<long long>(0, std::min<long long>(wait.count(), 20)));
    }
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, timeout);
    const auto now = Clock::now();
    while (!due.empty() && due.begin()->first <= now) {
      const Pending& d = due.begin()->second;
      (void)::sendto(fd_, d.packet.data(), d.packet.size(), 0,
                     reinterpret_cast<const sockaddr*>(&d.to), sizeof d.to);
      due.erase(due.begin());
    }
    if (n <= 0 || !(p.revents & POLLIN)) continue;
    sockaddr_in from{};
    socklen_t fromlen = sizeof from;
    const ssize_t len = ::recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &fromlen);
    if (len < 12) continue;
    if (((buf[4] << 8) | buf[5]) != 1) continue;
    // The question: uncompressed labels, then type and class.
    std::size_t i = 12;
    std::string qname;      // lower-case text
    std::string qname_raw;  // as asked
    bool bad = false;
    while (i < static_cast<std::size_t>(len) && buf[i] != 0) {
      const std::size_t l = buf[i];
      if (l > 63 || i + 1 + l > static_cast<std::size_t>(len)) {
        bad = true;
        break;
      }
      if (!qname.empty()) {
        qname += '.';
        qname_raw += '.';
      }
      for (std::size_t k = 0; k < l; ++k) {
        const char c = static_cast<char>(buf[i + 1 + k]);
        qname_raw += c;
        qname += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      i += 1 + l;
    }
    if (bad || i + 5 > static_cast<std::size_t>(len)) continue;
    const std::size_t question_end = i + 5;
    const std::uint16_t qtype = static_cast<std::uint16_t>((buf[i + 1] << 8) | buf[i + 2]);
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back(Question{qname, qtype});
    }
    const Reply reply = zone_(qname, qtype);
    if (reply.drop) continue;
    std::string out;
    out.append(reinterpret_cast<const char*>(buf), 2);  // id
    const std::uint16_t flags = 0x8000 | (buf[2] & 0x78) << 8 | 0x0400 | (buf[2] & 0x01) << 8 |
                                0x0080 | (reply.rcode & 0x0f);
    put16(&out, flags);
    put16(&out, 1);
    put16(&out, static_cast<std::uint16_t>(reply.answers.size()));
    put16(&out, 0);
    put16(&out, 0);
    out.append(reinterpret_cast<const char*>(buf + 12), question_end - 12);
    for (const Record& rec : reply.answers) {
      put_name(&out, rec.name.empty() ? qname_raw : rec.name);
      put16(&out, rec.type);
      put16(&out, 1);               // IN
      out.append("\0\0\0\x3c", 4);  // TTL 60
      std::string rdata;
      if (rec.type == kA) {
        in_addr a{};
        ::inet_pton(AF_INET, rec.data.c_str(), &a);
        rdata.assign(reinterpret_cast<const char*>(&a), 4);
      } else if (rec.type == kAaaa) {
        in6_addr a{};
        ::inet_pton(AF_INET6, rec.data.c_str(), &a);
        rdata.assign(reinterpret_cast<const char*>(&a), 16);
      } else {
        put_name(&rdata, rec.data);
      }
      put16(&out, static_cast<std::uint16_t>(rdata.size()));
      out += rdata;
    }
    const auto when = Clock::now() + std::chrono::milliseconds(delay_ms_.load());
    due.emplace(when, Pending{std::move(out), from});
  }
}

}  // namespace dns_test
