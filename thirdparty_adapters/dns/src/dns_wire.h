// DNS wire format, the parts the resolver needs to read answers the way glibc 2.36's
// nss_dns does: domain names (text <-> wire, decompression, comparison, the res_hnok
// host-name check) and a cursor over the answer section of a response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace co::dns {

// Record types and classes used here (arpa/nameser.h spells them T_A, C_IN, ...).
inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeCname = 5;
inline constexpr std::uint16_t kTypePtr = 12;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kClassIn = 1;

// Response codes.
inline constexpr int kRcodeNoError = 0;
inline constexpr int kRcodeFormErr = 1;
inline constexpr int kRcodeServFail = 2;
inline constexpr int kRcodeNxDomain = 3;
inline constexpr int kRcodeNotImp = 4;
inline constexpr int kRcodeRefused = 5;

// An uncompressed wire-format name: length-prefixed labels ending with a zero byte, at most
// 255 bytes (NS_MAXCDNAME).
using WireName = std::string;

// name_pton converts presentation format (with \X and \DDD escapes) to wire format, as
// ns_name_pton does. False for an empty label, a label over 63 bytes or a name over 255.
bool name_pton(const char* text, WireName* out);

// name_ntop converts wire format to text as ns_name_ntop does: labels joined by '.', special
// characters escaped, no trailing dot; the root is ".".
std::string name_ntop(const WireName& wire);

// binary_hnok is __res_binary_hnok: every label made of letters, digits, '-' and '_', and the
// first label not starting with '-'.
bool binary_hnok(const WireName& wire);

// res_hnok is glibc's res_hnok for a text name: printable ASCII, convertible, binary_hnok.
bool res_hnok(const char* text);

// same_binary_name compares two wire names ASCII-case-insensitively (__ns_samebinaryname).
bool same_binary_name(const WireName& a, const WireName& b);

// One resource record of a response, its owner name decompressed.
struct ResourceRecord {
  WireName name;
  std::uint16_t type = 0;
  std::uint16_t rclass = 0;
  std::uint32_t ttl = 0;
  const unsigned char* rdata = nullptr;
  std::uint16_t rdlength = 0;
};

// RecordCursor walks a response like glibc's ns_rr_cursor: a header, exactly one question
// (uncompressed name), then the records that follow.
class RecordCursor {
 public:
  // init validates the header and question; false for a malformed packet.
  bool init(const unsigned char* packet, std::size_t length);
  int rcode() const { return begin_[3] & 0x0f; }
  int ancount() const { return (begin_[6] << 8) | begin_[7]; }
  const WireName& qname() const { return qname_; }
  std::uint16_t qtype() const { return qtype_; }
  // next reads the next record; false when it is malformed or the packet ends.
  bool next(ResourceRecord* rr);
  // unpack decompresses the name at `at` (inside the packet).
  bool unpack(const unsigned char* at, WireName* out) const;

 private:
  const unsigned char* begin_ = nullptr;
  const unsigned char* end_ = nullptr;
  const unsigned char* current_ = nullptr;
  WireName qname_;
  std::uint16_t qtype_ = 0;
};

}  // namespace co::dns
