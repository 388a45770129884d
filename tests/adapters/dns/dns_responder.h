// A DNS server for the tests: UDP on a loopback address, run by its own std::thread (no
// scheduler there, so its delays never involve the coroutines under test). It answers from a
// Zone function after a configurable delay, logs every question, and can drop queries (a
// silent server). Nothing it does leaves the loopback interface.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dns_test {

inline constexpr std::uint16_t kA = 1;
inline constexpr std::uint16_t kCname = 5;
inline constexpr std::uint16_t kPtr = 12;
inline constexpr std::uint16_t kAaaa = 28;

struct Record {
  std::string name;  // owner; empty means the question's name, as asked (case kept)
  std::uint16_t type = kA;
  std::string data;  // A/AAAA: an address in text; CNAME/PTR: a domain name
};

struct Reply {
  int rcode = 0;  // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED
  std::vector<Record> answers;
  bool drop = false;  // send nothing
};

// qname is lower-case, without the trailing dot.
using Zone = std::function<Reply(const std::string& qname, std::uint16_t qtype)>;

struct Question {
  std::string name;  // lower-case, no trailing dot
  std::uint16_t type = 0;
};

// The zone every DNS test uses (documented in the .cpp).
Reply test_zone(const std::string& qname, std::uint16_t qtype);

class Responder {
 public:
  // Listens on address:port (port 0: the kernel picks one) and answers after `delay`.
  explicit Responder(Zone zone = test_zone, std::chrono::milliseconds delay = {},
                     const char* address = "127.0.0.1", std::uint16_t port = 0);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  bool ok() const { return fd_ >= 0; }
  std::uint16_t port() const { return port_; }
  // "127.0.0.1:PORT", for COFCGI_DNS_SERVERS.
  std::string endpoint() const;
  void set_delay(std::chrono::milliseconds delay) { delay_ms_.store(delay.count()); }

  std::vector<Question> questions() const;
  std::size_t question_count() const;
  void clear();

 private:
  void run();

  Zone zone_;
  std::atomic<long long> delay_ms_;
  std::string address_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Question> log_;
  std::thread thread_;
};

}  // namespace dns_test
