// See html.h.
#include "cofcgi/cgi/html.h"

namespace co::cgi {

namespace {

// entity_for is the replacement of a markup character, or nullptr for any other byte.
const char* entity_for(char c) {
  switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    default: return nullptr;
  }
}

}  // namespace

void append_html_escaped(std::string& out, std::string_view text) {
  // Runs of plain bytes are appended whole: most text has no markup character at all.
  std::size_t plain_from = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char* entity = entity_for(text[i]);
    if (entity == nullptr) continue;
    out.append(text.substr(plain_from, i - plain_from));
    out.append(entity);
    plain_from = i + 1;
  }
  out.append(text.substr(plain_from));
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  append_html_escaped(out, text);
  return out;
}

}  // namespace co::cgi
