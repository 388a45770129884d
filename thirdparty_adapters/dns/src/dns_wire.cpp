#include "dns_wire.h"

#include <cstdio>

namespace co::dns {
namespace {

constexpr std::size_t kMaxName = 255;  // NS_MAXCDNAME
constexpr std::size_t kMaxLabel = 63;

bool special(unsigned char ch) {
  switch (ch) {
    case '"':
    case '.':
    case ';':
    case '\\':
    case '(':
    case ')':
    case '@':
    case '$': return true;
    default: return false;
  }
}

unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

bool host_char(unsigned char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
         ch == '-' || ch == '_';
}

}  // namespace

bool name_pton(const char* text, WireName* out) {
  out->clear();
  std::string label;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(text);
  if (p[0] == '\0' || (p[0] == '.' && p[1] == '\0')) {
    out->push_back('\0');
    return true;
  }
  for (;;) {
    unsigned char c = *p++;
    if (c == '\0' || c == '.') {
      if (label.empty()) {
        // An empty label is only the end of a name written with a trailing dot.
        if (c == '\0' && !out->empty()) break;
        return false;
      }
      if (label.size() > kMaxLabel) return false;
      out->push_back(static_cast<char>(label.size()));
      *out += label;
      label.clear();
      if (out->size() + 1 > kMaxName) return false;
      if (c == '\0') break;
      continue;
    }
    if (c == '\\') {
      c = *p++;
      if (c == '\0') return false;
      if (c >= '0' && c <= '9') {
        if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return false;
        const int v = (c - '0') * 100 + (p[0] - '0') * 10 + (p[1] - '0');
        if (v > 255) return false;
        p += 2;
        c = static_cast<unsigned char>(v);
      }
    }
    label.push_back(static_cast<char>(c));
    if (label.size() > kMaxLabel) return false;
  }
  out->push_back('\0');
  return out->size() <= kMaxName;
}

std::string name_ntop(const WireName& wire) {
  std::string out;
  std::size_t i = 0;
  while (i < wire.size()) {
    const std::size_t n = static_cast<unsigned char>(wire[i++]);
    if (n == 0) break;
    if (!out.empty()) out.push_back('.');
    for (std::size_t k = 0; k < n && i < wire.size(); ++k, ++i) {
      const unsigned char c = static_cast<unsigned char>(wire[i]);
      if (special(c)) {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c > 0x20 && c < 0x7f) {
        out.push_back(static_cast<char>(c));
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\%03u", c);
        out += buf;
      }
    }
  }
  if (out.empty()) return std::string(1, '.');
  return out;
}

bool binary_hnok(const WireName& wire) {
  if (wire.size() > 1 && static_cast<unsigned char>(wire[0]) > 0 && wire[1] == '-') return false;
  std::size_t i = 0;
  while (i < wire.size()) {
    const std::size_t n = static_cast<unsigned char>(wire[i++]);
    if (n == 0) return true;
    for (std::size_t k = 0; k < n; ++k, ++i) {
      if (i >= wire.size() || !host_char(static_cast<unsigned char>(wire[i]))) return false;
    }
  }
  return false;
}

bool res_hnok(const char* text) {
  for (const char* p = text; *p != '\0'; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c <= ' ' || c > '~') return false;
  }
  WireName wire;
  return name_pton(text, &wire) && binary_hnok(wire);
}

bool same_binary_name(const WireName& a, const WireName& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool RecordCursor::unpack(const unsigned char* at, WireName* out) const {
  out->clear();
  const unsigned char* p = at;
  int jumps = 0;
  while (p < end_) {
    const unsigned char n = *p;
    if (n == 0) {
      out->push_back('\0');
      return out->size() <= kMaxName;
    }
    if ((n & 0xc0) == 0xc0) {
      if (p + 1 >= end_ || ++jumps > 127) return false;
      const std::size_t offset = ((n & 0x3f) << 8) | p[1];
      p = begin_ + offset;
      continue;
    }
    if ((n & 0xc0) != 0) return false;  // extended label types
    if (p + 1 + n > end_) return false;
    out->append(reinterpret_cast<const char*>(p), n + 1);
    if (out->size() + 1 > kMaxName) return false;
    p += n + 1;
  }
  return false;
}

bool RecordCursor::init(const unsigned char* packet, std::size_t length) {
  if (length < 12) return false;
  begin_ = packet;
  end_ = packet + length;
  const int qdcount = (packet[4] << 8) | packet[5];
  if (qdcount != 1) return false;
  // The question name must be uncompressed (__ns_name_length_uncompressed).
  const unsigned char* p = packet + 12;
  qname_.clear();
  for (;;) {
    if (p >= end_) return false;
    const unsigned char n = *p;
    if (n == 0) {
      qname_.push_back('\0');
      ++p;
      break;
    }
    if ((n & 0xc0) != 0 || p + 1 + n > end_) return false;
    qname_.append(reinterpret_cast<const char*>(p), n + 1);
    if (qname_.size() + 1 > kMaxName) return false;
    p += n + 1;
  }
  if (p + 4 > end_) return false;
  qtype_ = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
  current_ = p + 4;
  return true;
}

bool RecordCursor::next(ResourceRecord* rr) {
  if (!unpack(current_, &rr->name)) return false;
  // Skip the (possibly compressed) owner name in place.
  const unsigned char* p = current_;
  for (;;) {
    if (p >= end_) return false;
    const unsigned char n = *p;
    if (n == 0) {
      ++p;
      break;
    }
    if ((n & 0xc0) == 0xc0) {
      p += 2;
      break;
    }
    p += n + 1;
  }
  if (p + 10 > end_) return false;
  rr->type = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
  rr->rclass = static_cast<std::uint16_t>((p[2] << 8) | p[3]);
  rr->ttl = (static_cast<std::uint32_t>(p[4]) << 24) | (static_cast<std::uint32_t>(p[5]) << 16) |
            (static_cast<std::uint32_t>(p[6]) << 8) | p[7];
  rr->rdlength = static_cast<std::uint16_t>((p[8] << 8) | p[9]);
  p += 10;
  if (p + rr->rdlength > end_) return false;
  rr->rdata = p;
  current_ = p + rr->rdlength;
  return true;
}

}  // namespace co::dns
