// ServerOptions: every setting of a FastCGI server, and parse_server_args, the command line
// every app built on co::cgi shares (--help lists it).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "cofcgi/cgi/options.h"
#include "cofcgi/runtime/export.h"

namespace co::cgi {

struct ServerOptions {
  // "HOST:PORT", "[V6]:PORT", "unix:PATH", or "fd:0" for the listening socket inherited on
  // fd 0 (FCGI_LISTENSOCK_FILENO, as spawn-fcgi and `cgi-fcgi -start` pass it). Empty (the
  // default): fd 0 when it is a listening socket, else 127.0.0.1:9000.
  std::string listen;
  int threads = 1;
  // A unix socket file we create: its permissions, owner and group (php-fpm's listen.mode,
  // listen.owner, listen.group). Owner and group are names or numeric ids; empty keeps the
  // process's own. nginx's workers (www-data on Debian) need write permission on it.
  mode_t unix_socket_mode = 0660;
  std::string unix_socket_owner;
  std::string unix_socket_group;
  int backlog = 1024;

  // Limits on everything a peer controls.
  std::size_t max_params_bytes = 64 * 1024;                // over: 431
  std::size_t max_params = 512;                            // over: 431
  std::size_t max_body = 16 * 1024 * 1024;                 // over: 413
  std::size_t max_requests_per_connection = 0;             // 0: unlimited; then closed
  std::size_t max_requests_per_connection_in_flight = 64;  // over: FCGI_CANT_MPX_CONN
  std::size_t max_requests_in_flight = 10000;              // per process; over: FCGI_OVERLOADED
  std::size_t max_connections = 10000;                     // per process; over: closed at once
  // Request bodies buffered before their handlers read them. A connection stops being read
  // while its buffered body bytes are over the first (back-pressure on the web server); all
  // connections of the process stop while the sum is over the second (a connection with no
  // buffered bytes of its own still reads, so a handler waiting for its body progresses).
  std::size_t max_buffered_body_per_connection = 1024 * 1024;
  std::size_t max_buffered_body = 256 * 1024 * 1024;
  // PARAMS bytes held by all requests of the process; a request whose params would go over
  // it is answered 431 (its bytes are dropped), so requests that never finish their params
  // cannot hold more than this.
  std::size_t max_buffered_params = 64 * 1024 * 1024;
  // Records handled per wake-up of a connection before its reader yields to the others: one
  // connection that never stops sending cannot hold the thread.
  std::size_t max_records_per_wakeup = 64;
  std::chrono::milliseconds idle_timeout{60000};    // no request in flight, nothing read
  std::chrono::milliseconds params_timeout{10000};  // BEGIN_REQUEST to the end of PARAMS
  std::chrono::milliseconds record_timeout{10000};  // a record's first byte to its last
  std::chrono::milliseconds body_timeout{60000};    // between two parts of an unfinished body
  std::chrono::milliseconds write_timeout{60000};   // a peer that stops reading
  // A request's whole life, from BEGIN_REQUEST (a CGI run: its start) to the end of its
  // handler; 0: none. Past it the handler's blocking calls fail (ETIMEDOUT; a MySQL call
  // with an error) and the answer is 504, or the response is cut short if part of it went
  // out (cgi/README.md "Request deadlines and cancellation").
  std::chrono::milliseconds request_timeout{300000};
  std::chrono::milliseconds grace_period{10000};  // SIGTERM: in-flight requests may finish

  // Logs (cgi/README.md "Logs"). The error log: every co::log_printf line, with a timestamp,
  // the level and the pid; "" is stderr. log_level: debug, info, warning, error or off.
  std::string error_log;
  std::string log_level = "info";
  // The access log: one line per request in access_format (php-fpm's access.format tokens),
  // to access_log_path ("" or "-": stderr) when access_log is on. Both logs are reopened on
  // SIGUSR1 (logrotate's postrotate).
  bool access_log = false;
  std::string access_log_path;
  std::string access_format = "%R - %u %t \"%m %r%Q%q\" %s %B %{milli}d %I";
  std::size_t stack_size = 0;  // handler coroutine stacks (0: runtime default, 128 KiB)
  bool handle_signals = true;  // SIGTERM/SIGINT drain; SIGPIPE ignored either way
  // Legacy CGI code: in a handler, getenv("QUERY_STRING"), getenv("HTTP_HOST") & co. return
  // this request's values (per coroutine: needs cofcgi::hooks linked; ignored without it).
  // The standard CGI variables and common HTTP_* headers only.
  bool cgi_environment = false;
  // Run as a plain CGI program (one request from the environment and stdin, the response on
  // stdout, then exit) even when GATEWAY_INTERFACE is not set. Server::run() chooses the mode
  // (cgi/src/run_mode.h): --cgi, then --listen, then a listening fd 0, then GATEWAY_INTERFACE.
  bool cgi = false;

  // Processes (cgi/src/supervisor.h). workers 0: one process serves (development, tests).
  // workers N: a supervisor holds the listening socket and runs N worker processes, each with
  // `threads` threads; it restarts one that dies, and stops (exit status 1) once
  // emergency_restart_threshold workers died of a crash within emergency_restart_interval
  // (0: never). SIGHUP (or SIGUSR2) reloads: the binary on disk is started again with the
  // listening socket, and the old workers hand over (README "Deploy").
  int workers = 0;
  // A worker that ended this many requests leaves (handing over) and is replaced: bounds
  // what a slow leak in app code can grow to (php-fpm's pm.max_requests). 0: never.
  std::size_t max_requests = 0;
  int emergency_restart_threshold = 10;
  std::chrono::milliseconds emergency_restart_interval{60000};
  // How long a reload waits for the new master's workers before it gives up on it.
  std::chrono::milliseconds reload_timeout{30000};
  // Workers drop to this user and group (names or ids; empty: stay) after the supervisor
  // bound the socket (php-fpm's user/group).
  std::string user;
  std::string group;
  // The supervisor's pid, written when it serves (a reload writes the new master's).
  std::string pid_file;

  // Seeing inside (README "Operate"). The server answers these paths itself, before the
  // handler; empty: off. status_path: counters, the accept queue, coroutines, ?full for every
  // request in flight and what it waits on, ?json / ?prometheus / ?openmetrics, ?coroutines
  // for a dump with backtraces (cgi/src/status_page.h). ping_path answers ping_response.
  std::string status_path;
  std::string ping_path;
  std::string ping_response = "pong";
  // status_listen: serve the status and ping paths also on a listener of their own (same
  // syntax as listen; any other path answers the status page), on a thread of their own with
  // a small connection cap, so they answer while the app's threads are saturated or stuck.
  // Empty: off. Single process only (workers 0). cgi/src/status_listener.h
  std::string status_listen;
  // A request running past slow_request_timeout (0: off) gets one slow-log entry with its
  // handler's backtrace, at most slow_log_rate entries per second (cgi/src/slow_log.h).
  std::chrono::milliseconds slow_request_timeout{0};
  std::size_t slow_log_rate = 10;
  // A server thread that has not switched coroutines for watchdog_timeout (0: off) gets its
  // backtrace logged: a CPU-bound handler or a blocking call the hooks do not cover.
  std::chrono::milliseconds watchdog_timeout{0};
};

// parse_server_args reads the command line every app takes, and the TOML file it names with
// --config FILE (the command line overrides the file). --help prints the options (the rows of
// cgi/src/server_args.cpp, then the app's) and exits 0; --version and --options-reference
// likewise. `app`'s rows are read from both places like the server's. Arguments no row knows
// are left for the caller in `rest`; without `rest` they are an error. A malformed value or
// an unknown key throws std::invalid_argument naming the flag, or the file, line and key.
COFCGI_API ServerOptions parse_server_args(int argc, char** argv, AppOptions& app,
                                           std::vector<std::string>* rest = nullptr);
// The same without app rows; `app_options_help` is appended to --help.
COFCGI_API ServerOptions parse_server_args(int argc, char** argv,
                                           std::vector<std::string>* rest = nullptr,
                                           std::string_view app_options_help = {});

}  // namespace co::cgi
