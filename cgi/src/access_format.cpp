#include "access_format.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

namespace co::cgi::detail {
namespace {

constexpr std::string_view kTokens = "%RumrqQslBdtTefnpPI";
constexpr std::string_view kDefaultTime = "%d/%b/%Y:%H:%M:%S %z";

void check_arg(char token, const std::string& arg) {
  // php-fpm also takes "mili" (its documentation's spelling).
  if (token == 'd' && !arg.empty() && arg != "seconds" && arg != "milli" && arg != "mili" &&
      arg != "milliseconds" && arg != "micro" && arg != "microseconds")
    throw std::invalid_argument("%{" + arg + "}d: the unit is seconds, milli or micro");
  if (token == 'e' && arg.empty())
    throw std::invalid_argument("%e needs a param name: %{HTTP_HOST}e");
}

void append_or_dash(std::string& out, std::string_view value) {
  if (value.empty())
    out += '-';
  else
    out += value;
}

void append_time(std::string& out, std::int64_t unix_ns, const std::string& format) {
  const time_t seconds = static_cast<time_t>(unix_ns / 1000000000);
  tm parts{};
  localtime_r(&seconds, &parts);
  char text[128];
  const std::size_t n =
      strftime(text, sizeof text, format.empty() ? kDefaultTime.data() : format.c_str(), &parts);
  out.append(text, n);
}

void append_duration(std::string& out, std::int64_t ns, const std::string& unit) {
  char text[32];
  if (unit.empty() || unit == "seconds")
    std::snprintf(text, sizeof text, "%.3f", static_cast<double>(ns) / 1e9);
  else if (unit == "milli" || unit == "mili" || unit == "milliseconds")
    std::snprintf(text, sizeof text, "%.3f", static_cast<double>(ns) / 1e6);
  else
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(ns / 1000));
  out += text;
}

std::string_view param(const AccessRecord& r, std::string_view name) {
  return r.request->param_or(name, "");
}

}  // namespace

AccessFormat::AccessFormat(std::string_view format) {
  std::string literal;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      literal += format[i];
      continue;
    }
    const std::size_t at = i;
    std::string arg;
    if (i + 1 < format.size() && format[i + 1] == '{') {
      const std::size_t close = format.find('}', i + 2);
      if (close == std::string_view::npos)
        throw std::invalid_argument("unclosed %{ at offset " + std::to_string(at));
      arg = std::string(format.substr(i + 2, close - i - 2));
      i = close;
    }
    if (i + 1 >= format.size())
      throw std::invalid_argument("a lone % at the end (write %% for a percent sign)");
    const char token = format[++i];
    if (token == 'C' || token == 'M')
      throw std::invalid_argument(std::string("%") + token +
                                  " (php-fpm's CPU % and PHP memory) is not measured per "
                                  "request here; see cgi/README.md for the tokens");
    if (kTokens.find(token) == std::string_view::npos)
      throw std::invalid_argument(std::string("unknown token %") + token + " at offset " +
                                  std::to_string(at));
    check_arg(token, arg);
    if (token == '%') {
      literal += '%';
      continue;
    }
    if (!literal.empty()) pieces_.push_back(Piece{0, std::move(literal)});
    literal.clear();
    pieces_.push_back(Piece{token, std::move(arg)});
  }
  if (!literal.empty()) pieces_.push_back(Piece{0, std::move(literal)});
}

void AccessFormat::render(const AccessRecord& r, std::string& out) const {
  const std::string_view uri = param(r, "REQUEST_URI");
  const std::string_view query = param(r, "QUERY_STRING");
  for (const Piece& p : pieces_) {
    switch (p.token) {
      case 0: out += p.arg; break;
      case 'R': append_or_dash(out, param(r, "REMOTE_ADDR")); break;
      case 'u': append_or_dash(out, param(r, "REMOTE_USER")); break;
      case 'm': append_or_dash(out, param(r, "REQUEST_METHOD")); break;
      case 'r': append_or_dash(out, uri.substr(0, uri.find('?'))); break;
      case 'q': out += query; break;
      case 'Q': out += query.empty() ? "" : "?"; break;
      case 's': out += r.abandoned ? "aborted" : std::to_string(r.status); break;
      case 'l': append_or_dash(out, param(r, "CONTENT_LENGTH")); break;
      case 'B': out += std::to_string(r.bytes_out); break;
      case 'd': append_duration(out, r.duration_ns, p.arg); break;
      case 't': append_time(out, r.started_unix_ns, p.arg); break;
      case 'T': append_time(out, r.ended_unix_ns, p.arg); break;
      case 'e': append_or_dash(out, param(r, p.arg)); break;
      case 'f': append_or_dash(out, param(r, "SCRIPT_FILENAME")); break;
      case 'n': append_or_dash(out, program_invocation_short_name); break;
      case 'p': out += std::to_string(::getpid()); break;
      case 'P': out += std::to_string(::getppid()); break;
      case 'I': out += std::to_string(::getpid()) + "-" + std::to_string(r.sequence); break;
    }
  }
}

}  // namespace co::cgi::detail
