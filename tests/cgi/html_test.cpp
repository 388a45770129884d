// co::cgi::append_html_escaped / html_escape (cgi/include/cofcgi/cgi/html.h).
#include "cofcgi/cgi/html.h"

#include <doctest/doctest.h>

#include <string>

using co::cgi::append_html_escaped;
using co::cgi::html_escape;

TEST_CASE("html: the five markup characters become entities, nothing else changes") {
  CHECK(html_escape("&<>\"'") == "&amp;&lt;&gt;&quot;&#39;");
  CHECK(html_escape("<script>alert(\"x\");</script>") ==
        "&lt;script&gt;alert(&quot;x&quot;);&lt;/script&gt;");
  CHECK(html_escape("aren't") == "aren&#39;t");
  CHECK(html_escape("") == "");
  CHECK(html_escape("plain text, no markup") == "plain text, no markup");
  // An entity already in the text is escaped again: the input is text, not HTML.
  CHECK(html_escape("&amp;") == "&amp;amp;");
}

TEST_CASE("html: UTF-8 (BMP and beyond) and other bytes pass through unchanged") {
  const std::string text = "\u30d5\u30ec\u30fc\u30e0 \u2014 \U0001F600 \U00010348 tab\there";
  CHECK(html_escape(text) == text);
  const std::string bytes("a\0b\x7f\xff", 5);  // NUL, DEL, a byte no UTF-8 has
  CHECK(html_escape(bytes) == bytes);
  CHECK(html_escape("\U0001F600<\U0001F600>") == "\U0001F600&lt;\U0001F600&gt;");
}

TEST_CASE("html: append_html_escaped appends to what is already there") {
  std::string page = "<td>";
  append_html_escaped(page, "1 < 2 & \"3\"");
  page += "</td>";
  CHECK(page == "<td>1 &lt; 2 &amp; &quot;3&quot;</td>");
  append_html_escaped(page, "");
  CHECK(page == "<td>1 &lt; 2 &amp; &quot;3&quot;</td>");
}

TEST_CASE("html: escaping at the very start and end and in long runs") {
  CHECK(html_escape("<") == "&lt;");
  CHECK(html_escape("a>") == "a&gt;");
  CHECK(html_escape(std::string(1000, '&')).size() == 5000);
  const std::string long_plain(100000, 'x');
  CHECK(html_escape(long_plain + "'") == long_plain + "&#39;");
}
