// HTML escaping for text and attribute values: & < > " ' become entities, every other byte
// (UTF-8 included) is copied as it is.
//
//   std::string page;
//   co::cgi::append_html_escaped(page, user_text);   // no temporary string
//   response << "<td>" << co::cgi::html_escape(user_text) << "</td>";
//
// ' becomes &#39; (not &apos;, which HTML 4 lacks). The input is not checked for valid UTF-8:
// escaping is about markup, and a browser shows invalid bytes as U+FFFD either way.
#pragma once

#include <string>
#include <string_view>

#include "cofcgi/runtime/export.h"

namespace co::cgi {

// append_html_escaped appends `text` to `out` with the five markup characters escaped.
COFCGI_API void append_html_escaped(std::string& out, std::string_view text);

// html_escape returns `text` escaped (append_html_escaped into a new string).
COFCGI_API std::string html_escape(std::string_view text);

}  // namespace co::cgi
