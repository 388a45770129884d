#include "cgi_environment.h"

#include <stdlib.h>

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>

// Defined by the hooks layer when it is linked (cofcgi::hooks); weak so the FastCGI layer
// keeps depending on the runtime only.
extern "C" void co_set_env_list(const char* name[], std::size_t cnt) __attribute__((weak));

namespace co::cgi::detail {
namespace {

const char* kNames[] = {
    "AUTH_TYPE",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "DOCUMENT_ROOT",
    "DOCUMENT_URI",
    "GATEWAY_INTERFACE",
    "HTTPS",
    "PATH_INFO",
    "PATH_TRANSLATED",
    "QUERY_STRING",
    "REDIRECT_STATUS",
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_IDENT",
    "REMOTE_PORT",
    "REMOTE_USER",
    "REQUEST_METHOD",
    "REQUEST_SCHEME",
    "REQUEST_URI",
    "SCRIPT_FILENAME",
    "SCRIPT_NAME",
    "SERVER_ADDR",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_ENCODING",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_AUTHORIZATION",
    "HTTP_CONNECTION",
    "HTTP_COOKIE",
    "HTTP_HOST",
    "HTTP_ORIGIN",
    "HTTP_REFERER",
    "HTTP_USER_AGENT",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REQUESTED_WITH",
};

bool registered(std::string_view name) {
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

}  // namespace

bool cgi_environment_available() { return co_set_env_list != nullptr; }

void register_cgi_environment() {
  static std::once_flag once;
  if (!cgi_environment_available()) return;
  std::call_once(once, [] { co_set_env_list(kNames, sizeof kNames / sizeof kNames[0]); });
}

void export_cgi_environment(const RequestState& req) {
  if (!cgi_environment_available()) return;
  std::string name;
  std::string value;
  for (const auto& [n, v] : req.params) {
    if (!registered(n)) continue;
    name.assign(n);
    value.assign(v);
    ::setenv(name.c_str(), value.c_str(), 1);
  }
}

}  // namespace co::cgi::detail
