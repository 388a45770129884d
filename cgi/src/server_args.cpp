// parse_server_args: one table of flags drives the parsing and --help.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/server_options.h"

#ifndef COFCGI_VERSION
#define COFCGI_VERSION "unknown"
#endif

namespace co::cgi {
namespace {

struct Flag {
  const char* name;
  const char* value;  // shown in --help; nullptr: the flag takes no value
  const char* help;
  std::function<void(ServerOptions&, const std::string&)> apply;
};

unsigned long long number(const std::string& flag, const std::string& value, int base = 10) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(value.c_str(), &end, base);
  if (value.empty() || *end != '\0' || value[0] == '-') {
    throw std::invalid_argument(flag + " needs a number, got '" + value + "'");
  }
  return n;
}

std::chrono::milliseconds millis(const std::string& flag, const std::string& value) {
  return std::chrono::milliseconds(number(flag, value));
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"--listen", "ADDR",
       "HOST:PORT, [V6]:PORT, unix:PATH or fd:0 (default: a listening fd 0, CGI with "
       "GATEWAY_INTERFACE set, or 127.0.0.1:9000)",
       [](ServerOptions& o, const std::string& v) { o.listen = v; }},
      {"--threads", "N", "server threads, each with its own scheduler (default 1)",
       [](ServerOptions& o, const std::string& v) {
         o.threads = static_cast<int>(number("--threads", v));
         if (o.threads < 1 || o.threads > 1024)
           throw std::invalid_argument("--threads must be 1..1024");
       }},
      {"--socket-mode", "OCTAL", "permissions of a unix socket (default 0660)",
       [](ServerOptions& o, const std::string& v) {
         const unsigned long long mode = number("--socket-mode", v, 8);
         if (mode > 0777) throw std::invalid_argument("--socket-mode must be 0..0777");
         o.unix_socket_mode = static_cast<mode_t>(mode);
       }},
      {"--socket-owner", "USER", "owner of a unix socket (name or uid)",
       [](ServerOptions& o, const std::string& v) { o.unix_socket_owner = v; }},
      {"--socket-group", "GROUP", "group of a unix socket (name or gid)",
       [](ServerOptions& o, const std::string& v) { o.unix_socket_group = v; }},
      {"--max-body", "BYTES", "largest request body; over it: 413 (default 16 MiB)",
       [](ServerOptions& o, const std::string& v) { o.max_body = number("--max-body", v); }},
      {"--max-connections", "N", "connections per process (default 10000)",
       [](ServerOptions& o, const std::string& v) {
         o.max_connections = number("--max-connections", v);
       }},
      {"--max-requests-in-flight", "N",
       "requests per process; over: FCGI_OVERLOADED (default 10000)",
       [](ServerOptions& o, const std::string& v) {
         o.max_requests_in_flight = number("--max-requests-in-flight", v);
       }},
      {"--max-buffered-body", "BYTES", "unread request bodies per process (default 256 MiB)",
       [](ServerOptions& o, const std::string& v) {
         o.max_buffered_body = number("--max-buffered-body", v);
       }},
      {"--max-buffered-body-per-connection", "BYTES", "the same per connection (default 1 MiB)",
       [](ServerOptions& o, const std::string& v) {
         o.max_buffered_body_per_connection = number("--max-buffered-body-per-connection", v);
       }},
      {"--stack-size", "BYTES", "handler coroutine stack (default 128 KiB)",
       [](ServerOptions& o, const std::string& v) { o.stack_size = number("--stack-size", v); }},
      {"--idle-timeout", "MS", "close a connection idle this long (default 60000)",
       [](ServerOptions& o, const std::string& v) {
         o.idle_timeout = millis("--idle-timeout", v);
       }},
      {"--params-timeout", "MS", "BEGIN_REQUEST to the end of its params (default 10000)",
       [](ServerOptions& o, const std::string& v) {
         o.params_timeout = millis("--params-timeout", v);
       }},
      {"--record-timeout", "MS", "a record's first byte to its last (default 10000)",
       [](ServerOptions& o, const std::string& v) {
         o.record_timeout = millis("--record-timeout", v);
       }},
      {"--body-timeout", "MS", "longest pause in a request body (default 60000)",
       [](ServerOptions& o, const std::string& v) {
         o.body_timeout = millis("--body-timeout", v);
       }},
      {"--write-timeout", "MS", "a web server that stops reading (default 60000)",
       [](ServerOptions& o, const std::string& v) {
         o.write_timeout = millis("--write-timeout", v);
       }},
      {"--grace-period", "MS", "SIGTERM: how long requests in flight may finish (default 10000)",
       [](ServerOptions& o, const std::string& v) {
         o.grace_period = millis("--grace-period", v);
       }},
      {"--access-log", nullptr, "one line per request: method URI status bytes duration",
       [](ServerOptions& o, const std::string&) { o.access_log = true; }},
      {"--cgi", nullptr,
       "one CGI request (environment + stdin -> stdout), as with GATEWAY_INTERFACE set",
       [](ServerOptions& o, const std::string&) { o.cgi = true; }},
      {"--cgi-env", nullptr, "getenv(\"QUERY_STRING\") & co. per request (needs cofcgi::hooks)",
       [](ServerOptions& o, const std::string&) { o.cgi_environment = true; }},
  };
  return table;
}

void print_help(const char* program, std::string_view app_options_help) {
  std::printf("usage: %s [options]\n\nServer options:\n", program);
  for (const Flag& f : flags()) {
    const std::string left = std::string(f.name) + (f.value ? std::string(" ") + f.value : "");
    std::printf("  %-40s %s\n", left.c_str(), f.help);
  }
  std::printf("  %-40s %s\n  %-40s %s\n", "--help", "this text", "--version", "the cofcgi version");
  if (!app_options_help.empty()) {
    std::printf("\n%.*s", static_cast<int>(app_options_help.size()), app_options_help.data());
    if (app_options_help.back() != '\n') std::printf("\n");
  }
}

const Flag* find_flag(const std::string& name) {
  for (const Flag& f : flags()) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

// search_word_args: how many of the last arguments are a CGI search query's words. RFC 3875
// 4.4: for a QUERY_STRING without '=' a CGI host may pass its '+'-separated words, decoded,
// as arguments (Apache does: /cgi-bin/app?a+b runs `app a b`). They are the request's, not
// options; a wrapper script that does not forward them leaves none.
int search_word_args(int argc, char** argv) {
  const char* gateway = std::getenv("GATEWAY_INTERFACE");
  const char* query = std::getenv("QUERY_STRING");
  if (gateway == nullptr || query == nullptr || *query == '\0') return 0;
  const std::string_view q(query);
  if (q.find('=') != std::string_view::npos) return 0;
  std::vector<std::string> words;
  std::size_t start = 0;
  for (;;) {
    const std::size_t plus = q.find('+', start);
    words.push_back(url_decode(q.substr(start, plus - start), false));
    if (plus == std::string_view::npos) break;
    start = plus + 1;
  }
  const int n = static_cast<int>(words.size());
  if (argc - 1 < n) return 0;
  for (int i = 0; i < n; ++i) {
    if (words[static_cast<std::size_t>(i)] != argv[argc - n + i]) return 0;
  }
  return n;
}

}  // namespace

ServerOptions parse_server_args(int argc, char** argv, std::vector<std::string>* rest,
                                std::string_view app_options_help) {
  ServerOptions o;
  argc -= search_word_args(argc, argv);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_help(argc > 0 ? argv[0] : "app", app_options_help);
      std::exit(0);
    }
    if (arg == "--version") {
      std::printf("cofcgi %s\n", COFCGI_VERSION);
      std::exit(0);
    }
    std::optional<std::string> inline_value;
    const std::size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const Flag* flag = find_flag(arg);
    if (flag == nullptr) {
      if (rest == nullptr) throw std::invalid_argument("unknown argument " + arg + " (try --help)");
      rest->push_back(argv[i]);
      continue;
    }
    std::string value;
    if (flag->value != nullptr) {
      if (inline_value)
        value = *inline_value;
      else if (i + 1 < argc)
        value = argv[++i];
      else
        throw std::invalid_argument(arg + " needs a value");
    }
    flag->apply(o, value);
  }
  return o;
}

}  // namespace co::cgi
