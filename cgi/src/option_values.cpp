#include "option_values.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <stdexcept>

#include "cofcgi/cgi/options.h"

namespace co::cgi::detail {
namespace {

[[noreturn]] void bad_value(const char* expected, const std::string& text) {
  throw std::invalid_argument(std::string("needs ") + expected + ", got '" + text + "'");
}

// leading_number: the unsigned decimal number at the start of `text` and where it ends; a
// sign, an empty number or an overflow is a bad value.
unsigned long long leading_number(const std::string& text, const char* expected, std::size_t* end) {
  if (text.empty() || text[0] < '0' || text[0] > '9') bad_value(expected, text);
  errno = 0;
  char* stop = nullptr;
  const unsigned long long n = std::strtoull(text.c_str(), &stop, 10);
  if (errno == ERANGE) bad_value(expected, text);
  *end = static_cast<std::size_t>(stop - text.c_str());
  return n;
}

unsigned long long times(unsigned long long n, unsigned long long unit, const char* expected,
                         const std::string& text) {
  if (unit != 0 && n > ULLONG_MAX / unit) bad_value(expected, text);
  return n * unit;
}

}  // namespace

bool parse_flag_value(const std::string& text) {
  if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
  if (text == "false" || text == "no" || text == "off" || text == "0") return false;
  bad_value("true or false", text);
}

long long parse_integer_value(const std::string& text, long long min, long long max) {
  const std::string expected =
      "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  errno = 0;
  char* stop = nullptr;
  const long long n = std::strtoll(text.c_str(), &stop, 10);
  if (text.empty() || *stop != '\0' || errno == ERANGE || n < min || n > max)
    bad_value(expected.c_str(), text);
  return n;
}

std::size_t parse_bytes_value(const std::string& text) {
  const char* expected = "a size in bytes (4096, 64k, 16M, 1G)";
  std::size_t end = 0;
  const unsigned long long n = leading_number(text, expected, &end);
  const std::string unit = text.substr(end);
  unsigned long long scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "k" || unit == "K" || unit == "KiB")
    scale = 1024;
  else if (unit == "M" || unit == "MiB")
    scale = 1024 * 1024;
  else if (unit == "G" || unit == "GiB")
    scale = 1024ULL * 1024 * 1024;
  else
    bad_value(expected, text);
  const unsigned long long bytes = times(n, scale, expected, text);
  if (bytes > SIZE_MAX) bad_value(expected, text);
  return static_cast<std::size_t>(bytes);
}

std::chrono::milliseconds parse_millis_value(const std::string& text) {
  const char* expected = "a duration in milliseconds (250, 250ms, 10s, 2m)";
  std::size_t end = 0;
  const unsigned long long n = leading_number(text, expected, &end);
  const std::string unit = text.substr(end);
  unsigned long long scale = 0;
  if (unit.empty() || unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m" || unit == "min")
    scale = 60 * 1000;
  else if (unit == "h")
    scale = 3600 * 1000;
  else
    bad_value(expected, text);
  const unsigned long long ms = times(n, scale, expected, text);
  // A year is far past any sensible timeout; it keeps deadline arithmetic in range.
  if (ms > 365ULL * 24 * 3600 * 1000) bad_value(expected, text);
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

mode_t parse_octal_value(const std::string& text) {
  const char* expected = "an octal file mode (0660)";
  if (text.empty() || text.size() > 5) bad_value(expected, text);
  unsigned mode = 0;
  for (const char c : text) {
    if (c < '0' || c > '7') bad_value(expected, text);
    mode = mode * 8 + static_cast<unsigned>(c - '0');
  }
  if (mode > 07777) bad_value(expected, text);
  return static_cast<mode_t>(mode);
}

std::string format_bytes_value(std::size_t bytes) {
  constexpr std::size_t kKiB = 1024;
  if (bytes != 0 && bytes % (kKiB * kKiB * kKiB) == 0)
    return std::to_string(bytes / (kKiB * kKiB * kKiB)) + "G";
  if (bytes != 0 && bytes % (kKiB * kKiB) == 0) return std::to_string(bytes / (kKiB * kKiB)) + "M";
  if (bytes != 0 && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + "k";
  return std::to_string(bytes);
}

std::string format_millis_value(std::chrono::milliseconds ms) {
  const long long n = ms.count();
  if (n != 0 && n % 1000 == 0) return std::to_string(n / 1000) + "s";
  return std::to_string(n) + "ms";
}

std::string format_octal_value(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode));
  return text;
}

}  // namespace co::cgi::detail

namespace co::cgi {
namespace {

Option row(std::string flag, OptionKind kind, std::string value_name, std::string help) {
  Option o;
  o.key = flag;
  for (char& c : o.key) {
    if (c == '-') c = '_';
  }
  o.flag = std::move(flag);
  o.kind = kind;
  o.value_name = std::move(value_name);
  o.help = std::move(help);
  return o;
}

}  // namespace

Option flag_option(std::string flag, bool* field, std::string help) {
  Option o = row(std::move(flag), OptionKind::flag, "", std::move(help));
  o.set = [field](const std::string& v) { *field = detail::parse_flag_value(v); };
  o.get = [field] { return std::string(*field ? "true" : "false"); };
  return o;
}

Option text_option(std::string flag, std::string* field, std::string value_name, std::string help) {
  Option o = row(std::move(flag), OptionKind::text, std::move(value_name), std::move(help));
  o.set = [field](const std::string& v) { *field = v; };
  o.get = [field] { return *field; };
  return o;
}

Option bytes_option(std::string flag, std::size_t* field, std::string help) {
  Option o = row(std::move(flag), OptionKind::bytes, "BYTES", std::move(help));
  o.set = [field](const std::string& v) { *field = detail::parse_bytes_value(v); };
  o.get = [field] { return detail::format_bytes_value(*field); };
  return o;
}

Option millis_option(std::string flag, std::chrono::milliseconds* field, std::string help) {
  Option o = row(std::move(flag), OptionKind::millis, "MS", std::move(help));
  o.set = [field](const std::string& v) { *field = detail::parse_millis_value(v); };
  o.get = [field] { return detail::format_millis_value(*field); };
  return o;
}

Option octal_option(std::string flag, mode_t* field, std::string help) {
  Option o = row(std::move(flag), OptionKind::octal, "OCTAL", std::move(help));
  o.set = [field](const std::string& v) { *field = detail::parse_octal_value(v); };
  o.get = [field] { return detail::format_octal_value(*field); };
  return o;
}

Option integer_option(std::string flag, long long min, long long max,
                      std::function<void(long long)> store, std::function<long long()> load,
                      std::string help) {
  Option o = row(std::move(flag), OptionKind::integer, "N", std::move(help));
  o.set = [store = std::move(store), min, max](const std::string& v) {
    store(detail::parse_integer_value(v, min, max));
  };
  o.get = [load = std::move(load)] { return std::to_string(load()); };
  return o;
}

Option& AppOptions::add(Option option) {
  if (option.section == "Server") option.section = "App";
  rows_.push_back(std::move(option));
  return rows_.back();
}

}  // namespace co::cgi
