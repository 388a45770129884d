// ASCII case folding for protocol tokens (header names, media types): only A-Z fold, so
// '^' and '~' (both valid in header names) stay different, whatever the locale.
#pragma once

#include <string_view>

namespace co::cgi::detail {

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

}  // namespace co::cgi::detail
