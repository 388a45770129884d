// Reading hooks/src/hooked_calls.def the way the X-macro does: one COFCGI_HOOK(name) per
// line; comments and blank lines skipped. (No std::regex: GCC 12 warns inside it under
// -fsanitize, and -Werror turns that into a build failure.)
#pragma once

#include <doctest/doctest.h>

#include <cctype>
#include <fstream>
#include <set>
#include <string>

namespace hooks_test {

inline bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

inline std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// hooked_names returns the names of the COFCGI_HOOK(name) lines of the def file.
inline std::set<std::string> hooked_names() {
  std::ifstream in(COFCGI_HOOKS_DEF);
  REQUIRE_MESSAGE(in.good(), "cannot read " COFCGI_HOOKS_DEF);
  std::set<std::string> names;
  static const std::string open = "COFCGI_HOOK(";
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.rfind(open, 0) != 0 || line.back() != ')') continue;
    const std::string name = trim(line.substr(open.size(), line.size() - open.size() - 1));
    if (is_identifier(name)) names.insert(name);
  }
  return names;
}

}  // namespace hooks_test
