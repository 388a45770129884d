// libFuzzer target: a whole FastCGI connection. The real reader (serve_connection, with the
// Connection, request runner, body stream and budget of cgi/src) serves one end of a
// socketpair; the input, written to the other end in pieces, is
//   [b] [k piece sizes] [byte stream...]
// as in record_stream_fuzz.cpp (k = b % 16, size 0 = 8192, the sizes repeat), and the high
// bits of b pick the limits (b >> 4 & 3, see options_for), whether the writer waits between
// pieces until the server has read the last one (b & 0x40: no) and whether the thread starts
// draining halfway (b & 0x80).
//
// The handler runs the script in its param X, one op per byte (see run_script): read the body
// in pieces or whole, write, write > 32 KiB (the flush path), flush, throw before or after
// the headers went out, yield, echo params. After the writer sent everything it shuts down its
// write side; everything must then end by itself (co::run() returns) and leave nothing
// behind. Checked:
//   - the handler: its params are those of one BEGIN_REQUEST of its id in the input, its body
//     a prefix of that request's STDIN (equal once read to the end), BodyTooLarge only for a
//     body over max_body;
//   - the output: whole records (a cut tail only after a response was cut short), padded
//     to 8, of the types a responder sends; the id-0 answers (UNKNOWN_TYPE, GET_VALUES_RESULT)
//     a prefix of those the input asks for; per id no more END_REQUESTs than BEGIN_REQUESTs,
//     nothing of an id after its k-th END_REQUEST unless the input has k+1 BEGIN_REQUESTs of
//     it, END_REQUEST 8 bytes with app status 0, a refusal without STDOUT before it, the
//     empty STDOUT directly followed by END_REQUEST(REQUEST_COMPLETE); a complete response
//     parses (Status line, headers, Content-Length = body) and its body is the one the
//     handler wrote (or the server's error text);
//   - no stall: a watchdog coroutine aborts (printing the connection's state) when every
//     other coroutine is parked and nothing moves; with CONNECTION_FUZZ_BREAK_STALLS=all it
//     breaks the connection off instead (what a deadline would do) and fuzzing goes on, with
//     =budget only when the connection's body budget is over (its reader waits for body
//     room: the stalls of findings/connection_fuzz/, until they are fixed);
//   - afterwards: no connection, request in flight, buffered body byte, coroutine, stack in
//     use or polled fd left.
// CONNECTION_FUZZ_LOG=1 keeps the server's log lines (off by default: they cost time);
// CONNECTION_FUZZ_DUMP=1 prints every record the server sent; CONNECTION_FUZZ_TIMEOUT_MS=N
// sets every deadline to N ms (replaying an input against them: not for fuzzing).
#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cofcgi/cgi/params.h"
#include "cofcgi/cgi/record.h"
#include "cofcgi/cgi/request.h"
#include "cofcgi/cgi/response.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/unique_fd.h"
#include "connection.h"
#include "connection_reader.h"
#include "fuzz_check.h"
#include "server_state.h"
#include "thread_context.h"

namespace {

using namespace co::cgi;
using co::cgi::detail::Connection;
using co::cgi::detail::ServerState;
using co::cgi::detail::ThreadContext;

constexpr std::uint8_t T(RecordType t) { return static_cast<std::uint8_t>(t); }

// ---- what the input asks for ------------------------------------------------------------

// One BEGIN_REQUEST of the input and the PARAMS and STDIN its request can see.
struct Candidate {
  std::string params;
  bool params_complete = false;
  std::string body;
  bool body_complete = false;
};

struct Expected {
  std::map<std::uint16_t, std::vector<Candidate>> requests;  // by id, in input order
  std::map<std::uint16_t, std::size_t> begins;
  // The id-0 answers in order: (record type, the unknown type) or (GET_VALUES_RESULT, 0).
  std::vector<std::pair<std::uint8_t, std::uint8_t>> management;
};

Expected expected_from(std::string_view stream) {
  Expected ex;
  // The request of each id still taking records: an index into ex.requests[id], or none.
  std::map<std::uint16_t, std::size_t> open;
  constexpr std::size_t kNone = ~std::size_t{0};
  std::size_t offset = 0;
  for (;;) {
    Record r;
    const ParseResult res = parse_record(stream.data() + offset, stream.size() - offset, &r);
    if (res.status != ParseStatus::record) break;
    offset += res.consumed;
    if (r.request_id == 0) {
      if (r.type == T(RecordType::get_values))
        ex.management.emplace_back(T(RecordType::get_values_result), 0);
      else
        ex.management.emplace_back(T(RecordType::unknown_type), r.type);
      continue;
    }
    if (r.type == 0 || r.type > kMaxKnownType) {
      ex.management.emplace_back(T(RecordType::unknown_type), r.type);
      continue;
    }
    auto& list = ex.requests[r.request_id];
    const auto o = open.find(r.request_id);
    Candidate* cur = o == open.end() || o->second == kNone ? nullptr : &list[o->second];
    switch (static_cast<RecordType>(r.type)) {
      case RecordType::begin_request:
        ++ex.begins[r.request_id];
        open[r.request_id] = list.size();
        list.emplace_back();
        break;
      case RecordType::params:
        if (cur != nullptr && !cur->params_complete) {
          if (r.content.empty())
            cur->params_complete = true;
          else
            cur->params.append(r.content);
        }
        break;
      case RecordType::stdin_stream:
        if (cur != nullptr && !cur->body_complete) {
          if (r.content.empty())
            cur->body_complete = true;
          else
            cur->body.append(r.content);
        }
        break;
      case RecordType::abort_request: open[r.request_id] = kNone; break;
      default: break;
    }
  }
  return ex;
}

// ---- per-iteration state shared by the coroutines ---------------------------------------

struct Iteration {
  const Expected* expected = nullptr;
  std::size_t max_body = 0;
  // Bodies the handlers wrote and returned normally after, by id.
  std::map<std::uint16_t, std::vector<std::string>> written;
  bool cut_short = false;     // a handler threw after its headers went out
  bool stall_broken = false;  // the watchdog broke a stalled connection off
  std::uint64_t progress = 0;
  std::size_t bytes_written = 0;
  std::size_t bytes_read = 0;
  bool writer_done = false;
  bool reader_done = false;
  bool server_done = false;
};

Iteration* g_it = nullptr;
// CONNECTION_FUZZ_TIMEOUT_MS: every deadline of ServerOptions this many ms (to replay an
// input against the deadlines; fuzzing runs without: 0, an hour).
long long g_timeout_ms = 0;

std::vector<std::pair<std::string, std::string>> decode(std::string_view bytes, bool* ok) {
  std::vector<std::pair<std::string, std::string>> out;
  ParamsReader reader(bytes);
  std::string_view n, v;
  PairStatus st;
  while ((st = reader.next(&n, &v)) == PairStatus::pair) out.emplace_back(n, v);
  *ok = st == PairStatus::end;
  return out;
}

// The candidates of this request: the BEGIN_REQUESTs of its id whose params it got.
std::vector<const Candidate*> matching(const Request& request) {
  std::vector<const Candidate*> out;
  const auto it = g_it->expected->requests.find(request.id());
  COFCGI_FUZZ_CHECK(it != g_it->expected->requests.end());
  for (const Candidate& c : it->second) {
    if (!c.params_complete) continue;
    bool ok = false;
    const auto pairs = decode(c.params, &ok);
    if (!ok || pairs.size() != request.params().size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < pairs.size() && same; ++i) {
      same = pairs[i].first == request.params()[i].first &&
             pairs[i].second == request.params()[i].second;
    }
    if (same) out.push_back(&c);
  }
  return out;
}

void check_body(const std::vector<const Candidate*>& cands, const std::string& got, bool whole) {
  for (const Candidate* c : cands) {
    if (whole ? (c->body_complete && c->body == got) : c->body.compare(0, got.size(), got) == 0)
      return;
  }
  std::fprintf(stderr, "handler read %zu body bytes (%s) matching no STDIN of its id\n", got.size(),
               whole ? "whole" : "part");
  COFCGI_FUZZ_CHECK(!"the body a handler reads is the STDIN of its request");
}

[[noreturn]] void body_too_large(const std::vector<const Candidate*>& cands) {
  bool some_over = false;
  for (const Candidate* c : cands) some_over = some_over || c->body.size() > g_it->max_body;
  COFCGI_FUZZ_CHECK(some_over);
  throw;
}

// The handler: runs the ops of param X (default "eb"), at most 24 of them.
void handler(Request& request, Response& response) {
  const std::vector<const Candidate*> cands = matching(request);
  COFCGI_FUZZ_CHECK(!cands.empty());  // its params are those of a BEGIN_REQUEST of its id
  const std::string_view script = request.param_or("X", "eb").substr(0, 24);
  std::string body_read;
  bool body_at_end = false;
  std::string written;
  int big_writes = 0;
  auto out = [&](std::string_view s) {
    written.append(s);
    response.write(s);
  };
  auto read_some = [&](std::size_t n) {
    std::string buf(n, '\0');
    std::size_t got = 0;
    try {
      got = request.read_body(buf.data(), n);
    } catch (const BodyTooLarge&) {
      body_too_large(cands);
    }
    COFCGI_FUZZ_CHECK(got <= n);
    if (got == 0) body_at_end = true;
    COFCGI_FUZZ_CHECK(got == 0 || !body_at_end);
    body_read.append(buf.data(), got);
    check_body(cands, body_read, body_at_end);
    return got;
  };
  for (char op : script) {
    ++g_it->progress;
    switch (op) {
      case 'r':  // the body in small pieces, to its end
        while (read_some(7) != 0) {
        }
        break;
      case 'R': read_some(1 + body_read.size() % 100); break;  // one read
      case 'b': {                       // Request::body(): the whole body at once
        if (!body_read.empty()) break;  // body() after read_body sees only the rest
        std::string all;
        try {
          all = request.body();
        } catch (const BodyTooLarge&) {
          body_too_large(cands);
        }
        body_read = all;
        body_at_end = true;
        check_body(cands, body_read, true);
        out("body " + std::to_string(all.size()) + "\n");
        break;
      }
      case 'e':
        for (const auto& [n, v] : request.params()) {
          out(n);
          out("=");
          out(v.substr(0, 64));
          out("\n");
        }
        break;
      case 'w': out("hello\n"); break;
      case 'W':  // over Response::kFlushThreshold: flushed as it goes
        if (++big_writes > 3) break;
        out(std::string(40 * 1024 + 3, static_cast<char>('a' + big_writes)));
        break;
      case 'f': response.flush(); break;
      case 's': response.set_status(201); break;
      case 'h': response.set_header("X-Fuzz", "1"); break;
      case 'y': co::yield(); break;
      case 't':
        if (response.headers_sent()) g_it->cut_short = true;
        throw std::runtime_error("fuzz handler throws");
      case 'i': response.set_header("Bad", "a\r\nb"); break;  // throws invalid_argument
      default: break;
    }
  }
  g_it->written[request.id()].push_back(written);
}

// ---- the peer --------------------------------------------------------------------------

void write_all(int fd, std::string_view stream, std::string_view sizes, bool yield_between,
               ThreadContext* drain_ctx) {
  std::size_t fed = 0, next_size = 0, pieces = 0;
  const std::size_t drain_at = stream.size() / 2;
  bool drained = false;
  while (fed < stream.size()) {
    std::size_t n = stream.size() - fed;
    if (!sizes.empty()) {
      const auto b = static_cast<unsigned char>(sizes[next_size++ % sizes.size()]);
      n = std::min<std::size_t>(n, b == 0 ? 8192 : b);
    }
    std::size_t done = 0;
    while (done < n) {
      const ssize_t w =
          ::send(fd, stream.data() + fed + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) {
        done += static_cast<std::size_t>(w);
        g_it->bytes_written += static_cast<std::size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        co::WakeReason reason;
        COFCGI_FUZZ_CHECK(co::wait_fd(fd, POLLOUT, co::kNoDeadline, &reason) == 0);
        continue;
      }
      return;  // EPIPE, ECONNRESET: the server closed
    }
    fed += n;
    ++pieces;
    if (drain_ctx != nullptr && !drained && fed >= drain_at) {
      // drain() without the listening socket: new requests are refused, quiet connections end.
      drained = true;
      drain_ctx->drain_state = co::cgi::detail::ThreadDrain::stop;
      for (auto& [key, conn] : drain_ctx->connections) {
        if (conn->quiet()) conn->wake_reader();
      }
    }
    if (yield_between) {
      // Until the server has read the piece (SIOCOUTQ: bytes the peer has not read yet), or
      // for a while if it does not read (the scheduler polls epoll every 61 busy rounds).
      for (int round = 0; round < 256; ++round) {
        int unread = 0;
        if (::ioctl(fd, SIOCOUTQ, &unread) != 0 || unread == 0) break;
        co::yield();
      }
      co::yield();
    }
  }
}

void read_all(int fd, std::string* out) {
  char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      out->append(buf, static_cast<std::size_t>(n));
      g_it->bytes_read += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) return;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      co::WakeReason reason;
      COFCGI_FUZZ_CHECK(co::wait_fd(fd, POLLIN, co::kNoDeadline, &reason) == 0);
      continue;
    }
    COFCGI_FUZZ_CHECK(errno == ECONNRESET);
    return;
  }
}

void print_state(const ThreadContext& ctx, const ServerState& server) {
  std::fprintf(stderr,
               "connection_fuzz: stall: every coroutine parked, nothing moves (written %zu, read "
               "%zu, writer %s, reader %s, server %s); in flight %zu, buffered body %zu\n",
               g_it->bytes_written, g_it->bytes_read, g_it->writer_done ? "done" : "parked",
               g_it->reader_done ? "done" : "parked", g_it->server_done ? "done" : "parked",
               server.requests_in_flight.load(), server.buffered_body.load());
  static const char* kStates[] = {"open", "closing", "broken"};
  static const char* kBody[] = {"receiving", "complete", "over_limit", "abandoned"};
  for (const auto& [fd, conn] : ctx.connections) {
    std::fprintf(stderr,
                 "  connection fd %d: %s, alive %zu, quiet %d, budget held %zu over %d, wake "
                 "requested %d\n",
                 fd, kStates[static_cast<int>(conn->state())], conn->alive(), conn->quiet(),
                 conn->budget().held(), conn->budget().over(), conn->wake_requested());
    for (const auto& [id, req] : conn->active()) {
      std::fprintf(stderr, "    request %u: %s, body %s (%zu received)\n", id,
                   co::cgi::detail::phase_name(req->phase),
                   kBody[static_cast<int>(req->body.state())], req->body.received());
    }
  }
}

// The watchdog yields in a loop. A stall: nothing else ready and no progress for many rounds
// (the scheduler polls epoll every 61 busy rounds; socketpair readiness is immediate).
void watchdog(ThreadContext& ctx, ServerState& server) {
  static const char* const break_stalls = std::getenv("CONNECTION_FUZZ_BREAK_STALLS");
  auto may_break = [&] {
    if (break_stalls == nullptr || g_it->stall_broken) return false;
    if (std::string_view(break_stalls) == "all") return true;
    if (std::string_view(break_stalls) != "budget") return false;
    for (const auto& [fd, conn] : ctx.connections) {
      if (!conn->budget().over()) return false;
    }
    return !ctx.connections.empty();
  };
  std::uint64_t last = ~0ull;
  int idle = 0;
  std::int64_t idle_since = 0;
  while (!(g_it->writer_done && g_it->reader_done && g_it->server_done)) {
    co::yield();
    const std::uint64_t now = g_it->progress + g_it->bytes_read + g_it->bytes_written +
                              co::stats().live_coroutines * 1000003ull;
    if (co::stats().ready == 0 && now == last) {
      if (++idle == 1) idle_since = co::now_ns();
      if (idle < 400) continue;
      // With real deadlines (CONNECTION_FUZZ_TIMEOUT_MS), a stall is one they did not end.
      if (g_timeout_ms > 0 && co::now_ns() - idle_since < g_timeout_ms * 3 * 1000000ll) continue;
      if (!may_break()) {
        print_state(ctx, server);
        COFCGI_FUZZ_CHECK(!"no stall: the connection ends once the peer has sent everything");
      }
      g_it->stall_broken = true;
      for (auto& [fd, conn] : ctx.connections) conn->break_off();
    }
    idle = 0;
    last = now;
  }
}

// ---- checking the output ---------------------------------------------------------------

void check_response(std::uint16_t id, std::string_view content) {
  COFCGI_FUZZ_CHECK(content.substr(0, 8) == "Status: ");
  COFCGI_FUZZ_CHECK(content.size() >= 11);
  int status = 0;
  for (std::size_t i = 8; i < 11; ++i) {
    COFCGI_FUZZ_CHECK(content[i] >= '0' && content[i] <= '9');
    status = status * 10 + (content[i] - '0');
  }
  const std::size_t head_end = content.find("\r\n\r\n");
  COFCGI_FUZZ_CHECK(head_end != std::string_view::npos);
  const std::string_view head = content.substr(0, head_end + 2);
  const std::string_view body = content.substr(head_end + 4);
  const std::size_t cl = head.find("\r\nContent-Length: ");
  if (cl != std::string_view::npos) {
    const std::size_t from = cl + 18;
    const std::size_t to = head.find("\r\n", from);
    COFCGI_FUZZ_CHECK(std::to_string(body.size()) == head.substr(from, to - from));
  }
  if (status == 200 || status == 201) {
    const auto& bodies = g_it->written[id];
    bool found = false;
    for (const std::string& b : bodies) found = found || b == body;
    COFCGI_FUZZ_CHECK(found);  // what the handler wrote, whole
  } else if (status == 500) {
    COFCGI_FUZZ_CHECK(body == "Internal Server Error\n");
  } else if (status == 413) {
    COFCGI_FUZZ_CHECK(body == "Payload Too Large\n");
  } else if (status == 431) {
    COFCGI_FUZZ_CHECK(body == "Request Header Fields Too Large\n");
  } else {
    COFCGI_FUZZ_CHECK(!"a status the handler or the server sends");
  }
}

struct IdOutput {
  std::size_t ends = 0;
  std::string content;  // this response's STDOUT so far
  bool stream_ended = false;
};

void check_output(const std::string& out, const Expected& ex, const ServerOptions& options) {
  const bool may_be_cut = g_it->cut_short || g_it->stall_broken;
  static const bool dump = std::getenv("CONNECTION_FUZZ_DUMP") != nullptr;
  std::map<std::uint16_t, IdOutput> ids;
  std::size_t management = 0;
  std::size_t offset = 0;
  int end_must_follow = -1;  // the id of an empty STDOUT: its END_REQUEST comes next
  while (offset < out.size()) {
    Record r;
    const ParseResult res = parse_record(out.data() + offset, out.size() - offset, &r);
    COFCGI_FUZZ_CHECK(res.status != ParseStatus::bad_version);
    if (res.status == ParseStatus::incomplete) {
      COFCGI_FUZZ_CHECK(may_be_cut);  // whole records, unless the connection was broken off
      return;
    }
    offset += res.consumed;
    if (dump) {
      std::fprintf(stderr, "  out: type %2u id %u %4zu bytes %.*s\n", r.type, r.request_id,
                   r.content.size(), static_cast<int>(std::min<std::size_t>(r.content.size(), 40)),
                   r.type == T(RecordType::stdout_stream) ? r.content.data() : "");
    }
    COFCGI_FUZZ_CHECK(r.padding == padding_for(r.content.size()));
    if (end_must_follow >= 0) {
      COFCGI_FUZZ_CHECK(r.type == T(RecordType::end_request) && r.request_id == end_must_follow);
      end_must_follow = -1;
    }
    if (r.type == T(RecordType::unknown_type) || r.type == T(RecordType::get_values_result)) {
      COFCGI_FUZZ_CHECK(r.request_id == 0);
      COFCGI_FUZZ_CHECK(management < ex.management.size());
      const auto [type, unknown] = ex.management[management++];
      COFCGI_FUZZ_CHECK(r.type == type);
      if (r.type == T(RecordType::unknown_type)) {
        COFCGI_FUZZ_CHECK(r.content.size() == 8);
        COFCGI_FUZZ_CHECK(static_cast<std::uint8_t>(r.content[0]) == unknown);
        COFCGI_FUZZ_CHECK(r.content.substr(1) == std::string_view("\0\0\0\0\0\0\0", 7));
      } else {
        bool ok = false;
        for (const auto& [n, v] : decode(r.content, &ok)) {
          if (n == "FCGI_MAX_CONNS")
            COFCGI_FUZZ_CHECK(v == std::to_string(options.max_connections));
          else if (n == "FCGI_MAX_REQS")
            COFCGI_FUZZ_CHECK(v == std::to_string(options.max_requests_in_flight));
          else
            COFCGI_FUZZ_CHECK(n == "FCGI_MPXS_CONNS" && v == "1");
        }
        COFCGI_FUZZ_CHECK(ok);
      }
      continue;
    }
    COFCGI_FUZZ_CHECK(r.request_id != 0);
    IdOutput& id = ids[r.request_id];
    const auto begins_it = ex.begins.find(r.request_id);
    const std::size_t begins = begins_it == ex.begins.end() ? 0 : begins_it->second;
    // Anything of an id belongs to a response to one of its BEGIN_REQUESTs: the (ends+1)-th.
    COFCGI_FUZZ_CHECK(id.ends < begins);
    if (r.type == T(RecordType::stdout_stream)) {
      COFCGI_FUZZ_CHECK(!id.stream_ended);  // nothing after the end of the stream
      if (r.content.empty()) {
        id.stream_ended = true;
        end_must_follow = r.request_id;
      }
      id.content.append(r.content);
    } else if (r.type == T(RecordType::stderr_stream)) {
      COFCGI_FUZZ_CHECK(!id.stream_ended);
    } else if (r.type == T(RecordType::end_request)) {
      COFCGI_FUZZ_CHECK(r.content.size() == 8);
      COFCGI_FUZZ_CHECK(r.content.substr(0, 4) == std::string_view("\0\0\0\0", 4));  // app status
      COFCGI_FUZZ_CHECK(r.content.substr(5) == std::string_view("\0\0\0", 3));
      const auto status = static_cast<std::uint8_t>(r.content[4]);
      COFCGI_FUZZ_CHECK(status <= 3);
      if (status != 0) COFCGI_FUZZ_CHECK(id.content.empty() && !id.stream_ended);  // a refusal
      if (id.stream_ended) check_response(r.request_id, id.content);
      ++id.ends;
      id.content.clear();
      id.stream_ended = false;
    } else {
      std::fprintf(stderr, "record type %u from the server\n", r.type);
      COFCGI_FUZZ_CHECK(!"only STDOUT, STDERR, END_REQUEST, GET_VALUES_RESULT, UNKNOWN_TYPE");
    }
  }
  COFCGI_FUZZ_CHECK(end_must_follow < 0 || may_be_cut);
}

// ---- the iteration -----------------------------------------------------------------------

ServerOptions options_for(unsigned variant) {
  ServerOptions o;
  o.max_requests_per_connection_in_flight = 4;
  o.max_params_bytes = 512;
  o.max_params = 16;
  o.max_body = 2048;
  o.max_buffered_body_per_connection = 1024;
  o.max_buffered_body = 1 << 20;
  o.max_records_per_wakeup = 4;
  switch (variant) {
    case 1:  // the process-wide request cap (FCGI_OVERLOADED) and requests per connection
      o.max_requests_in_flight = 2;
      o.max_requests_per_connection = 3;
      break;
    case 2:  // larger bodies, whole records per wake-up
      o.max_body = 100000;
      o.max_buffered_body_per_connection = 64 * 1024;
      o.max_records_per_wakeup = 64;
      break;
    case 3:  // the process cap under the connection's
      o.max_buffered_body = 300;
      o.max_records_per_wakeup = 1;
      break;
    default: break;
  }
  // No deadline may end anything: the peer's EOF must.
  const std::chrono::milliseconds limit(g_timeout_ms > 0 ? g_timeout_ms : 3600 * 1000);
  o.idle_timeout = o.params_timeout = o.record_timeout = o.body_timeout = o.write_timeout = limit;
  o.grace_period = limit;
  o.handle_signals = false;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (std::getenv("CONNECTION_FUZZ_LOG") == nullptr) co::set_log_level(co::LogLevel::off);
  if (const char* ms = std::getenv("CONNECTION_FUZZ_TIMEOUT_MS")) g_timeout_ms = std::atoll(ms);
  // An exception escaping the reader or a handler's coroutine (std::logic_error from a
  // RequestPhase transition the server does not allow) is a crash, not a log line.
  co::set_terminate_on_uncaught_exception(true);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto b0 = static_cast<unsigned char>(input[0]);
  std::size_t k = b0 % 16;
  if (k > size - 1) k = size - 1;
  const std::string_view sizes = input.substr(1, k);
  const std::string_view stream = input.substr(1 + k);

  const co::Stats before = co::stats();
  const Expected expected = expected_from(stream);
  Iteration it;
  it.expected = &expected;
  g_it = &it;

  ServerState server;
  server.options = options_for((b0 >> 4) & 3);
  server.handler = handler;
  it.max_body = server.options.max_body;
  ThreadContext ctx(server, -1);

  int sv[2];
  COFCGI_FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  co::UniqueFd client(sv[1]);
  // As thread_context.cpp's admit() and serve() do.
  const int key = sv[0];
  server.connections.fetch_add(1);
  ctx.connections[key] = std::make_unique<Connection>(co::UniqueFd(sv[0]), ctx);
  Connection& conn = *ctx.connections[key];
  co::go([&] {
    co::cgi::detail::serve_connection(conn);
    ctx.connections.erase(key);
    server.connections.fetch_sub(1);
    it.server_done = true;
  });
  std::string output;
  const bool yield_between = (b0 & 0x40) == 0;
  ThreadContext* drain_ctx = (b0 & 0x80) != 0 ? &ctx : nullptr;
  co::go([&] {
    write_all(client.get(), stream, sizes, yield_between, drain_ctx);
    ::shutdown(client.get(), SHUT_WR);
    it.writer_done = true;
  });
  co::go([&] {
    read_all(client.get(), &output);
    it.reader_done = true;
  });
  co::go([&] { watchdog(ctx, server); });
  co::run();

  COFCGI_FUZZ_CHECK(it.server_done && it.writer_done && it.reader_done);
  check_output(output, expected, server.options);
  client.reset();
  COFCGI_FUZZ_CHECK(ctx.connections.empty());
  COFCGI_FUZZ_CHECK(server.connections.load() == 0);
  COFCGI_FUZZ_CHECK(server.requests_in_flight.load() == 0);
  COFCGI_FUZZ_CHECK(server.buffered_body.load() == 0);
  const co::Stats after = co::stats();
  COFCGI_FUZZ_CHECK(after.live_coroutines == before.live_coroutines);
  COFCGI_FUZZ_CHECK(after.stacks_in_use == before.stacks_in_use);
  COFCGI_FUZZ_CHECK(after.polled_fds == before.polled_fds);
  g_it = nullptr;
  return 0;
}
