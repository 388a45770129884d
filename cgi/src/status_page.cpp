#include "status_page.h"

#include <cstdio>
#include <ctime>
#include <map>

#include "cofcgi/cgi/json.h"
#include "listen_queue.h"

namespace co::cgi::detail {
namespace {

using namespace std::chrono_literals;

// A figure of the page: its name (snake_case), a help line and whether it only grows.
struct Figure {
  const char* name;
  const char* help;
  bool counter;
  double value;
};

std::string iso_time(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm parts{};
  ::gmtime_r(&t, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string number(double v) {
  char text[32];
  if (v == static_cast<double>(static_cast<long long>(v)))
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(v));
  else
    std::snprintf(text, sizeof text, "%.3f", v);
  return text;
}

// json_number writes whole numbers as integers (51, not 51.0).
void json_number(JsonWriter& json, double v) {
  if (v == static_cast<double>(static_cast<long long>(v)))
    json.value(static_cast<long long>(v));
  else
    json.value(v);
}

std::vector<Figure> figures_of(const StatusReport& r) {
  std::size_t coroutines = 0, stack_in_use = 0, stack_pooled = 0, connections = 0;
  for (const ThreadSnapshot& t : r.threads) {
    coroutines += t.stacks.coroutines;
    stack_in_use += t.stacks.stack_bytes_in_use;
    stack_pooled += t.stacks.stack_bytes_pooled;
    connections += t.connections;
  }
  const WorkerTotals& w = r.totals;
  const auto d = [](auto v) { return static_cast<double>(v); };
  std::vector<Figure> f = {
      {"uptime_seconds", "Seconds since the first worker started.", false, d(r.now - w.start_time)},
      {"workers", "Worker processes counted.", false, d(w.workers)},
      {"threads", "Server threads of this process.", false, d(r.threads.size())},
      {"accepted_connections", "Connections accepted.", true, d(w.accepted_connections)},
      {"connections", "Connections open in this process.", false, d(connections)},
      {"accepted_requests", "Requests whose handler started.", true, d(w.accepted_requests)},
      {"requests_in_flight", "Requests whose handler runs.", false, d(w.in_flight)},
      {"max_requests_in_flight", "Most requests in flight at once (summed over workers).", false,
       d(w.max_in_flight)},
      {"rejected_requests", "Requests refused with FCGI_OVERLOADED.", true, d(w.rejected_requests)},
      {"slow_requests", "Requests that ran past slow_request_timeout.", true, d(w.slow_requests)},
      {"timed_out_requests", "Requests cancelled at request_timeout.", true,
       d(w.timed_out_requests)},
      {"coroutines", "Live coroutines of this process.", false, d(coroutines)},
      {"stack_bytes_in_use", "Bytes of coroutine stacks in use in this process.", false,
       d(stack_in_use)},
      {"stack_bytes_pooled", "Bytes of coroutine stacks kept for reuse in this process.", false,
       d(stack_pooled)},
  };
  if (r.queue_known) {
    f.push_back(
        {"listen_queue", "Connections waiting in the accept queue.", false, d(r.listen_queue)});
    f.push_back({"listen_queue_capacity", "The accept queue's size (backlog).", false,
                 d(r.listen_queue_capacity)});
  }
  f.push_back({"max_listen_queue", "Longest accept queue seen.", false, d(w.listen_queue_max)});
  return f;
}

// The sections' figures by section and figure name (same names added up).
std::map<std::string, std::map<std::string, double>> sum_sections(const StatusReport& r) {
  std::map<std::string, std::map<std::string, double>> out;
  for (const auto& [section, figures] : r.sections) {
    for (const StatusFigure& f : figures) out[section][f.name] += f.value;
  }
  return out;
}

std::vector<int> unanswered(const StatusReport& r) {
  std::vector<int> out;
  for (const ThreadSnapshot& t : r.threads)
    if (!t.answered) out.push_back(t.thread);
  return out;
}

std::string render_text(const StatusReport& r, bool full) {
  std::string out = "start_time: " + iso_time(r.totals.start_time) + "\n";
  for (const Figure& f : figures_of(r)) out += std::string(f.name) + ": " + number(f.value) + "\n";
  for (const auto& [section, figures] : sum_sections(r))
    for (const auto& [name, value] : figures)
      out += section + " " + name + ": " + number(value) + "\n";
  for (int t : unanswered(r))
    out +=
        "thread " + std::to_string(t) + ": not answering (runs something that does not switch)\n";
  if (!full) return out;
  for (const ThreadSnapshot& t : r.threads) {
    for (const RequestSnapshot& q : t.requests) {
      char line[160];
      std::snprintf(line, sizeof line, ", %.3f s, thread %d, coroutine #%llu: ", q.seconds,
                    t.thread, static_cast<unsigned long long>(q.coroutine_id));
      out += "\nrequest: " + q.method + " " + q.uri + " from " + q.client + line + q.waiting + "\n";
      out += q.backtrace;
    }
  }
  return out;
}

std::string render_json(const StatusReport& r, bool full) {
  std::string out;
  JsonWriter json(out);
  json.begin_object().key("start_time").value(iso_time(r.totals.start_time));
  for (const Figure& f : figures_of(r)) json_number(json.key(f.name), f.value);
  json.key("sections").begin_object();
  for (const auto& [section, figures] : sum_sections(r)) {
    json.key(section).begin_object();
    for (const auto& [name, value] : figures) json_number(json.key(name), value);
    json.end_object();
  }
  json.end_object();
  json.key("unanswered_threads").begin_array();
  for (int t : unanswered(r)) json.value(t);
  json.end_array();
  if (full) {
    json.key("requests").begin_array();
    for (const ThreadSnapshot& t : r.threads) {
      for (const RequestSnapshot& q : t.requests) {
        json.begin_object().key("method").value(q.method).key("uri").value(q.uri);
        json.key("client").value(q.client).key("seconds").value(q.seconds);
        json.key("waiting").value(q.waiting).key("thread").value(t.thread);
        json.key("coroutine").value(q.coroutine_id);
        if (!q.backtrace.empty()) json.key("backtrace").value(q.backtrace);
        json.end_object();
      }
    }
    json.end_array();
  }
  json.end_object();
  out += '\n';
  return out;
}

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]* (the exposition format); anything else becomes '_'.
std::string metric_name(std::string_view text) {
  std::string out = "cofcgi_";
  for (const char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  return out;
}

std::string render_metrics(const StatusReport& r, bool openmetrics) {
  std::string out;
  const auto add = [&](const std::string& name, const char* help, bool counter, double value) {
    // OpenMetrics names the family without _total and the sample with it; 0.0.4 names both
    // with it.
    const std::string sample = counter ? name + "_total" : name;
    const std::string family = openmetrics ? name : sample;
    out += "# HELP " + family + " " + help + "\n";
    out += "# TYPE " + family + (counter ? " counter\n" : " gauge\n");
    out += sample + " " + number(value) + "\n";
  };
  add("cofcgi_start_time_seconds", "Unix time the first worker started.", false,
      static_cast<double>(r.totals.start_time));
  for (const Figure& f : figures_of(r)) add(metric_name(f.name), f.help, f.counter, f.value);
  for (const auto& [section, figures] : sum_sections(r))
    for (const auto& [name, value] : figures)
      add(metric_name(section + "_" + name), "Added by the application.", false, value);
  if (openmetrics) out += "# EOF\n";
  return out;
}

StatusFormat format_of(const Request& request) {
  if (request.query("json")) return StatusFormat::json;
  if (request.query("openmetrics")) return StatusFormat::openmetrics;
  if (request.query("prometheus")) return StatusFormat::prometheus;
  return StatusFormat::text;
}

const char* content_type(StatusFormat format) {
  switch (format) {
    case StatusFormat::json: return "application/json";
    case StatusFormat::prometheus: return "text/plain; version=0.0.4; charset=utf-8";
    case StatusFormat::openmetrics:
      return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case StatusFormat::text: break;
  }
  return "text/plain; charset=utf-8";
}

}  // namespace

void answer_status(ServerMonitor& monitor, const Request& request, Response& response,
                   std::chrono::milliseconds thread_wait) {
  response.set_header("Cache-Control", "no-store");
  if (request.query("coroutines")) {
    const StatusReport r = make_status_report(monitor, kSnapshotCoroutines, thread_wait);
    response.set_content_type("text/plain; charset=utf-8");
    for (const ThreadSnapshot& t : r.threads) {
      response << "thread " << std::to_string(t.thread)
               << (t.answered ? ":\n" : ": not answering\n") << t.coroutines;
    }
    return;
  }
  const bool full = request.query("full").has_value();
  unsigned parts = full ? kSnapshotRequests : kSnapshotCounts;
  if (full && request.query("backtrace")) parts |= kSnapshotBacktraces;
  const StatusFormat format = format_of(request);
  const StatusReport report = make_status_report(monitor, parts, thread_wait);
  response.set_content_type(content_type(format));
  response << render_status(report, format, full);
}

StatusReport make_status_report(ServerMonitor& monitor, unsigned parts,
                                std::chrono::milliseconds thread_wait) {
  monitor.sample_listen_queue();
  StatusReport r;
  r.totals = monitor.slots().totals();
  r.now = static_cast<std::int64_t>(std::time(nullptr));
  if (const auto queue = listen_queue_of(monitor.listen_fd())) {
    r.queue_known = true;
    r.listen_queue = queue->length;
    r.listen_queue_capacity = queue->capacity;
  }
  r.threads = gather_threads(monitor, parts, thread_wait);
  for (const auto& [name, fn] : monitor.sections()) r.sections.emplace_back(name, fn());
  return r;
}

std::string render_status(const StatusReport& report, StatusFormat format, bool full) {
  switch (format) {
    case StatusFormat::json: return render_json(report, full);
    case StatusFormat::prometheus: return render_metrics(report, false);
    case StatusFormat::openmetrics: return render_metrics(report, true);
    case StatusFormat::text: break;
  }
  return render_text(report, full);
}

bool answer_builtin_path(const ServerState& server, const Request& request, Response& response) {
  ServerMonitor* monitor = server.monitor;
  if (monitor == nullptr) return false;
  const ServerOptions& o = server.options;
  const std::string_view path = request.path();
  if (!o.ping_path.empty() && path == o.ping_path) {
    response.set_content_type("text/plain; charset=utf-8");
    response.set_header("Cache-Control", "no-store");
    response << o.ping_response << "\n";
    return true;
  }
  if (!o.status_path.empty() && path == o.status_path) {
    answer_status(*monitor, request, response, 1000ms);
    return true;
  }
  return false;
}

}  // namespace co::cgi::detail
