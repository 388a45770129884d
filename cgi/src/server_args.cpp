// The server's option table: one row per ServerOptions field (cofcgi/cgi/options.h). The
// command line, --help, the TOML file and the README's reference are all made from it.
// Adding a setting: one self-contained row here (flag, field, help; the TOML key is the flag
// with '_' for '-'); the tests in tests/cgi/config_test.cpp go through every row by itself.
#include <stdexcept>
#include <string>
#include <vector>

#include "access_format.h"
#include "cofcgi/cgi/options.h"
#include "cofcgi/cgi/server_options.h"
#include "command_line.h"

namespace co::cgi {
namespace {

Option log_level_option(std::string* field) {
  Option o = text_option("log-level", field, "LEVEL",
                         "error log threshold: debug, info, warning, error or off");
  o.set = [field](const std::string& v) {
    if (v != "debug" && v != "info" && v != "warning" && v != "error" && v != "off")
      throw std::invalid_argument("needs debug, info, warning, error or off, got '" + v + "'");
    *field = v;
  };
  return o;
}

// --access-log alone (the old spelling: a bool) logs to stderr; --access-log PATH to a file.
Option access_log_option(ServerOptions& o) {
  Option row = text_option("access-log", &o.access_log_path, "PATH",
                           "one line per request in --access-format, to PATH (alone: stderr)");
  row.value_optional = true;
  row.set = [&o](const std::string& v) {
    o.access_log = true;
    o.access_log_path = v == "-" ? "" : v;
  };
  // "-": on, to stderr (the same as "" in set); "": off.
  row.get = [&o] {
    if (!o.access_log) return std::string();
    return o.access_log_path.empty() ? std::string("-") : o.access_log_path;
  };
  return row;
}

// --access-format: checked when read (an unknown token is an error naming the option).
Option access_format_option(std::string* field) {
  Option row = text_option("access-format", field, "FORMAT",
                           "access log line: php-fpm's access.format tokens (cgi/README.md)");
  row.set = [field](const std::string& v) {
    (void)detail::AccessFormat(v);
    *field = v;
  };
  return row;
}

}  // namespace

std::vector<Option> server_option_rows(ServerOptions& o) {
  std::vector<Option> rows = {
      text_option("listen", &o.listen, "ADDR",
                  "HOST:PORT, [V6]:PORT, unix:PATH or fd:0 (default: a listening fd 0, CGI "
                  "with GATEWAY_INTERFACE set, or 127.0.0.1:9000)"),
      integer_option("threads", &o.threads, 1, 1024, "server threads, each with its own scheduler"),
      integer_option("workers", &o.workers, 0, 1024,
                     "worker processes under a supervisor (0: one process, no supervisor)"),
      integer_option("max-requests", &o.max_requests, 0, 1LL << 40,
                     "a worker ends this many requests, then is replaced (0: never)"),
      integer_option("emergency-restart-threshold", &o.emergency_restart_threshold, 0, 1 << 20,
                     "worker crashes within the interval that stop the service (0: never)"),
      millis_option("emergency-restart-interval", &o.emergency_restart_interval,
                    "the window emergency-restart-threshold counts crashes in"),
      millis_option("reload-timeout", &o.reload_timeout,
                    "SIGHUP: how long the new master may take to serve before it is dropped"),
      text_option("user", &o.user, "USER", "workers drop to this user (name or uid)"),
      text_option("group", &o.group, "GROUP", "workers drop to this group (name or gid)"),
      text_option("pid-file", &o.pid_file, "PATH",
                  "the supervisor writes its pid here once it serves (a reload: the new one's)"),
      octal_option("socket-mode", &o.unix_socket_mode, "permissions of a unix socket"),
      text_option("socket-owner", &o.unix_socket_owner, "USER",
                  "owner of a unix socket (name or uid; empty: the process's)"),
      text_option("socket-group", &o.unix_socket_group, "GROUP",
                  "group of a unix socket (name or gid; empty: the process's)"),
      integer_option("backlog", &o.backlog, 1, 1 << 20, "listen(2) backlog"),
      bytes_option("max-params-bytes", &o.max_params_bytes,
                   "PARAMS bytes of one request; over: 431"),
      integer_option("max-params", &o.max_params, 1, 1 << 20, "params of one request; over: 431"),
      bytes_option("max-body", &o.max_body, "largest request body; over: 413"),
      integer_option("max-requests-per-connection", &o.max_requests_per_connection, 0, 1LL << 40,
                     "requests on one connection, then it is closed (0: no limit)"),
      integer_option("max-requests-per-connection-in-flight",
                     &o.max_requests_per_connection_in_flight, 1, 1 << 20,
                     "requests at once on one connection; over: FCGI_CANT_MPX_CONN"),
      integer_option("max-requests-in-flight", &o.max_requests_in_flight, 1, 1LL << 40,
                     "requests per process; over: FCGI_OVERLOADED"),
      integer_option("max-connections", &o.max_connections, 1, 1LL << 40,
                     "connections per process; over: closed at once"),
      bytes_option("max-buffered-body-per-connection", &o.max_buffered_body_per_connection,
                   "unread request body bytes per connection before it stops being read"),
      bytes_option("max-buffered-body", &o.max_buffered_body,
                   "unread request body bytes per process before all reading stops"),
      bytes_option("max-buffered-params", &o.max_buffered_params,
                   "PARAMS bytes held by all requests of the process; over: 431"),
      integer_option("max-records-per-wakeup", &o.max_records_per_wakeup, 1, 1 << 20,
                     "records read from one connection before it yields to the others"),
      bytes_option("stack-size", &o.stack_size,
                   "handler coroutine stack (0: the runtime's default, 128k)"),
      millis_option("idle-timeout", &o.idle_timeout, "close a connection idle this long"),
      millis_option("params-timeout", &o.params_timeout, "BEGIN_REQUEST to the end of its params"),
      millis_option("record-timeout", &o.record_timeout, "a record's first byte to its last"),
      millis_option("body-timeout", &o.body_timeout, "longest pause in a request body"),
      millis_option("write-timeout", &o.write_timeout, "a web server that stops reading"),
      millis_option("request-timeout", &o.request_timeout,
                    "BEGIN_REQUEST to the handler's end; past it 504 (0: none)"),
      millis_option("grace-period", &o.grace_period,
                    "SIGTERM: how long requests in flight may finish"),
      text_option("error-log", &o.error_log, "PATH",
                  "log file for errors and notices (empty: stderr); reopened on SIGUSR1"),
      log_level_option(&o.log_level),
      access_log_option(o),
      access_format_option(&o.access_format),
      flag_option("cgi", &o.cgi,
                  "one CGI request (environment + stdin -> stdout), as with GATEWAY_INTERFACE "
                  "set"),
      flag_option("cgi-env", &o.cgi_environment,
                  "getenv(\"QUERY_STRING\") & co. per request (needs cofcgi::hooks)"),
      flag_option("handle-signals", &o.handle_signals,
                  "SIGTERM/SIGINT drain, SIGUSR1 reopens the logs (false: the app's own)"),
      text_option("status-path", &o.status_path, "PATH",
                  "answer the status page here (?json ?prometheus ?full ?coroutines; empty: off)"),
      text_option("ping-path", &o.ping_path, "PATH", "answer ping-response here (empty: off)"),
      text_option("ping-response", &o.ping_response, "TEXT", "the ping path's answer"),
      text_option(
          "status-listen", &o.status_listen, "ADDR",
          "also serve status and ping on this listener, own thread (workers 0; empty: off)"),
      millis_option("slow-request-timeout", &o.slow_request_timeout,
                    "log a request running this long, with its backtrace (0: off)"),
      integer_option("slow-log-rate", &o.slow_log_rate, 1, 1 << 20,
                     "slow-log entries per second at most (the rest are counted)"),
      millis_option("watchdog-timeout", &o.watchdog_timeout,
                    "log what a thread runs when it has not switched this long (0: off)"),
  };
  return rows;
}

ServerOptions parse_server_args(int argc, char** argv, AppOptions& app,
                                std::vector<std::string>* rest) {
  ServerOptions o;
  if (app.server_defaults) app.server_defaults(o);
  detail::CommandLine line(argc, argv);
  line.add_rows(server_option_rows(o));
  line.add_rows(app.rows());
  line.parse(rest, app.extra_help);
  return o;
}

ServerOptions parse_server_args(int argc, char** argv, std::vector<std::string>* rest,
                                std::string_view app_options_help) {
  AppOptions none;
  none.extra_help = std::string(app_options_help);
  return parse_server_args(argc, argv, none, rest);
}

}  // namespace co::cgi
