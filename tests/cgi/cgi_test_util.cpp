#include "cgi_test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "fixture_util.h"

namespace cgi_test {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

std::optional<std::string> find_header(const Pairs& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (same_name(n, name)) return v;
  }
  return std::nullopt;
}

// Header lines "Name: value" up to the blank line; returns the offset of the body.
std::size_t parse_header_lines(const std::string& raw, std::size_t pos, Pairs* headers) {
  for (;;) {
    const std::size_t eol = raw.find('\n', pos);
    if (eol == std::string::npos)
      throw std::runtime_error("headers not terminated: " + raw.substr(0, 200));
    std::string line = raw.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = eol + 1;
    if (line.empty()) return pos;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos)
      throw std::runtime_error("malformed header line: " + line.substr(0, 120));
    std::size_t v = colon + 1;
    while (v < line.size() && line[v] == ' ') ++v;
    headers->emplace_back(line.substr(0, colon), line.substr(v));
  }
}

std::string dechunk(const std::string& in) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) throw std::runtime_error("chunked body cut short");
    const std::size_t size = std::stoul(in.substr(pos, eol - pos), nullptr, 16);
    pos = eol + 2;
    if (size == 0) return out;
    if (in.size() < pos + size + 2) throw std::runtime_error("chunk cut short");
    out.append(in, pos, size);
    pos += size + 2;
  }
}

}  // namespace

long long ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

bool under_sanitizer() {
  const char* pass = std::getenv("COFCGI_TEST_PASS");
  return pass != nullptr && std::string(pass) != "main";
}

std::chrono::milliseconds loose(std::chrono::milliseconds bound) {
  return under_sanitizer() ? bound * 2 : bound;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::string out(n, '\0');
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x >> 32);
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- TempDir ---------------------------------------------------------------------------

TempDir::TempDir() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string templ = std::string((tmpdir && *tmpdir) ? tmpdir : "/tmp") + "/cofcgi-cgi-XXXXXX";
  if (!::mkdtemp(templ.data()))
    throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// ---- Child -----------------------------------------------------------------------------

Child::Child(const std::vector<std::string>& args, std::string log_path)
    : log_path_(std::move(log_path)), pid_(cofcgi_test::spawn_logged(args, log_path_)) {}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void Child::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> Child::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

App start_app(const std::string& exe, const std::string& listen,
              const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<std::string> argv = {exe, "--listen", listen};
  argv.insert(argv.end(), args.begin(), args.end());
  App app;
  app.child = std::make_unique<Child>(argv, log_path);
  const auto deadline = Clock::now() + 20s;
  const std::string marker = "serving FastCGI on ";
  for (;;) {
    const std::string log = read_file(log_path);
    const std::size_t at = log.find(marker);
    if (at != std::string::npos) {
      const std::size_t start = at + marker.size();
      const std::size_t end = log.find(" with ", start);
      if (end != std::string::npos) {
        app.address = log.substr(start, end - start);
        return app;
      }
    }
    if (auto status = app.child->wait_exit(0ms)) {
      throw std::runtime_error(exe + " exited (status " + std::to_string(*status) +
                               ") before listening:\n" + log);
    }
    if (Clock::now() >= deadline)
      throw std::runtime_error(exe + " did not report listening within 20 s:\n" + log);
    std::this_thread::sleep_for(10ms);
  }
}

// ---- run_program -----------------------------------------------------------------------

RunResult run_program(const std::vector<std::string>& args, const std::string& input,
                      std::chrono::milliseconds timeout) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2: " + std::string(std::strerror(errno)));
  }
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  int in_fd = in_pipe[1];
  ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  RunResult result;
  std::size_t sent = 0;
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  const auto deadline = Clock::now() + timeout;
  bool killed = false;
  while (out_fd >= 0 || err_fd >= 0) {
    pollfd fds[3];
    int n = 0;
    int idx_in = -1, idx_out = -1, idx_err = -1;
    if (in_fd >= 0) {
      idx_in = n;
      fds[n++] = {in_fd, POLLOUT, 0};
    }
    if (out_fd >= 0) {
      idx_out = n;
      fds[n++] = {out_fd, POLLIN, 0};
    }
    if (err_fd >= 0) {
      idx_err = n;
      fds[n++] = {err_fd, POLLIN, 0};
    }
    const int left = remaining_ms(deadline);
    if (left == 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(fds, static_cast<nfds_t>(n), left) < 0 && errno != EINTR) break;
    if (idx_in >= 0 && fds[idx_in].revents) {
      const ssize_t w = ::write(in_fd, input.data() + sent, input.size() - sent);
      if (w > 0) sent += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) sent = input.size();  // reader gone
      if (sent == input.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
    char buf[65536];
    for (auto [idx, fd, sink] :
         {std::tuple{idx_out, &out_fd, &result.out}, std::tuple{idx_err, &err_fd, &result.err}}) {
      if (idx < 0 || !fds[idx].revents) continue;
      const ssize_t r = ::read(*fd, buf, sizeof buf);
      if (r > 0) {
        sink->append(buf, static_cast<std::size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        ::close(*fd);
        *fd = -1;
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) ::close(fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = killed ? -1 : status;
  return result;
}

// ---- sockets ---------------------------------------------------------------------------

namespace {

// A stream socket connected to addr, or -1 with connect's errno.
int socket_connected(int family, const sockaddr* addr, socklen_t len) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, addr, len) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

}  // namespace

int connect_to(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) {
    const std::string path = address.substr(5);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    return socket_connected(AF_UNIX, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    errno = EINVAL;
    return -1;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  if (::inet_pton(AF_INET, address.substr(0, colon).c_str(), &a.sin_addr) != 1) {
    errno = EINVAL;
    return -1;
  }
  return socket_connected(AF_INET, reinterpret_cast<sockaddr*>(&a), sizeof a);
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// ---- FastCGI records -------------------------------------------------------------------

std::string record(std::uint8_t type, std::uint16_t id, std::string_view content, int padding) {
  if (content.size() > 65535) throw std::invalid_argument("record content over 65535 bytes");
  const std::size_t pad =
      padding < 0 ? (8 - content.size() % 8) % 8 : static_cast<std::size_t>(padding);
  std::string r;
  r.push_back(1);
  r.push_back(static_cast<char>(type));
  r.push_back(static_cast<char>(id >> 8));
  r.push_back(static_cast<char>(id & 0xff));
  r.push_back(static_cast<char>(content.size() >> 8));
  r.push_back(static_cast<char>(content.size() & 0xff));
  r.push_back(static_cast<char>(pad));
  r.push_back(0);
  r.append(content);
  r.append(pad, '\0');
  return r;
}

std::string begin_request(std::uint16_t id, std::uint16_t role, std::uint8_t flags) {
  const char body[8] = {static_cast<char>(role >> 8),
                        static_cast<char>(role & 0xff),
                        static_cast<char>(flags),
                        0,
                        0,
                        0,
                        0,
                        0};
  return record(kBeginRequest, id, std::string_view(body, 8));
}

std::string encode_pairs(const Pairs& pairs) {
  std::string out;
  auto length = [&](std::size_t n) {
    if (n < 128) {
      out.push_back(static_cast<char>(n));
    } else {
      out.push_back(static_cast<char>(0x80 | ((n >> 24) & 0x7f)));
      out.push_back(static_cast<char>((n >> 16) & 0xff));
      out.push_back(static_cast<char>((n >> 8) & 0xff));
      out.push_back(static_cast<char>(n & 0xff));
    }
  };
  for (const auto& [name, value] : pairs) {
    length(name.size());
    length(value.size());
    out += name;
    out += value;
  }
  return out;
}

std::string stream(std::uint8_t type, std::uint16_t id, std::string_view data, std::size_t chunk) {
  std::string out;
  while (!data.empty()) {
    const std::size_t n = std::min(chunk, data.size());
    out += record(type, id, data.substr(0, n));
    data.remove_prefix(n);
  }
  out += record(type, id, {});
  return out;
}

std::string whole_request(std::uint16_t id, const Pairs& params, std::string_view body,
                          bool keep_conn) {
  return begin_request(id, 1, keep_conn ? 1 : 0) + stream(kParams, id, encode_pairs(params)) +
         stream(kStdin, id, body);
}

Pairs cgi_params(const std::string& method, const std::string& uri, long long body_length) {
  Pairs p = {
      {"REQUEST_METHOD", method},
      {"REQUEST_URI", uri},
      {"SCRIPT_NAME", uri.substr(0, uri.find('?'))},
      {"QUERY_STRING", uri.find('?') == std::string::npos ? "" : uri.substr(uri.find('?') + 1)},
      {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"GATEWAY_INTERFACE", "CGI/1.1"},
      {"REMOTE_ADDR", "127.0.0.1"}};
  if (body_length >= 0) p.emplace_back("CONTENT_LENGTH", std::to_string(body_length));
  return p;
}

std::optional<std::string> CgiResponse::header(std::string_view name) const {
  return find_header(headers, name);
}

CgiResponse parse_cgi_response(const std::string& raw) {
  CgiResponse r;
  const std::size_t body = parse_header_lines(raw, 0, &r.headers);
  r.body = raw.substr(body);
  r.status = 200;
  if (auto status = r.header("Status")) r.status = std::stoi(*status);
  return r;
}

FcgiConn::FcgiConn(const std::string& address) {
  fd_ = connect_to(address);
  if (fd_ < 0) throw std::runtime_error("connect " + address + ": " + std::strerror(errno));
}

FcgiConn::~FcgiConn() {
  if (fd_ >= 0) ::close(fd_);
}

bool FcgiConn::try_send(std::string_view bytes) { return send_all(fd_, bytes); }

void FcgiConn::send(std::string_view bytes) {
  if (!send_all(fd_, bytes)) throw std::runtime_error("send: " + std::string(std::strerror(errno)));
}

std::optional<RawRecord> FcgiConn::take_buffered() {
  if (buf_.size() < 8) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data());
  const std::size_t length = (p[4] << 8) | p[5];
  const std::size_t total = 8 + length + p[6];
  if (buf_.size() < total) return std::nullopt;
  RawRecord r;
  r.version = p[0];
  r.type = p[1];
  r.id = static_cast<std::uint16_t>((p[2] << 8) | p[3]);
  r.padding = p[6];
  r.content = buf_.substr(8, length);
  buf_.erase(0, total);
  arrivals_.emplace_back(r.type, r.id);
  return r;
}

bool FcgiConn::fill(Clock::time_point deadline) {
  if (closed_) return false;
  pollfd p{fd_, POLLIN, 0};
  const int n = ::poll(&p, 1, remaining_ms(deadline));
  if (n <= 0) return false;
  char tmp[65536];
  const ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
  if (r <= 0) {
    closed_ = true;
    return false;
  }
  buf_.append(tmp, static_cast<std::size_t>(r));
  return true;
}

std::optional<RawRecord> FcgiConn::read_record(std::chrono::milliseconds timeout) {
  if (!stash_.empty()) {
    RawRecord r = std::move(stash_.front());
    stash_.pop_front();
    return r;
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto r = take_buffered()) return r;
    if (!fill(deadline)) return std::nullopt;
  }
}

bool FcgiConn::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!closed_) {
    if (!fill(deadline)) {
      if (closed_) break;
      return false;
    }
    while (auto r = take_buffered()) stash_.push_back(std::move(*r));
  }
  while (auto r = take_buffered()) stash_.push_back(std::move(*r));
  return true;
}

FcgiReply FcgiConn::read_reply(std::uint16_t id, std::chrono::milliseconds timeout) {
  FcgiReply reply;
  const auto deadline = Clock::now() + timeout;
  std::deque<RawRecord> others;
  while (!reply.complete) {
    std::optional<RawRecord> r;
    if (!stash_.empty()) {
      r = std::move(stash_.front());
      stash_.pop_front();
    } else {
      r = take_buffered();
      if (!r) {
        if (!fill(deadline)) break;
        continue;
      }
    }
    if (r->id != id) {
      others.push_back(std::move(*r));
      continue;
    }
    if (r->type == kStdout) {
      ++reply.stdout_records;
      if (r->content.empty()) reply.out_closed = true;
      reply.out += r->content;
    } else if (r->type == kStderr) {
      reply.err += r->content;
    } else if (r->type == kEndRequest && r->content.size() == 8) {
      const auto* b = reinterpret_cast<const unsigned char*>(r->content.data());
      reply.app_status = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                         (std::uint32_t{b[2]} << 8) | b[3];
      reply.protocol_status = b[4];
      reply.complete = true;
    }
  }
  // Records of other requests go back, ahead of anything still unread, in order.
  for (auto it = others.rbegin(); it != others.rend(); ++it) stash_.push_front(std::move(*it));
  return reply;
}

FcgiReply FcgiConn::request(std::uint16_t id, const Pairs& params, std::string_view body,
                            bool keep_conn, std::chrono::milliseconds timeout) {
  send(whole_request(id, params, body, keep_conn));
  return read_reply(id, timeout);
}

// ---- HTTP ------------------------------------------------------------------------------

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  return find_header(headers, name);
}

HttpResponse http_request(const std::string& host, std::uint16_t port, const std::string& method,
                          const std::string& target, const std::string& body, const Pairs& headers,
                          std::chrono::milliseconds timeout) {
  const int fd = connect_to(host + ":" + std::to_string(port));
  if (fd < 0) throw std::runtime_error("connect to nginx: " + std::string(std::strerror(errno)));
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  bool framed = false;  // the caller gives Transfer-Encoding and a body encoded to match
  for (const auto& [n, v] : headers) {
    out += n + ": " + v + "\r\n";
    if (strcasecmp(n.c_str(), "Transfer-Encoding") == 0) framed = true;
  }
  if (!framed && (!body.empty() || method == "POST" || method == "PUT"))
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out += body;
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  std::string in;
  std::size_t sent = 0;
  bool eof = false;
  const auto deadline = Clock::now() + timeout;
  while (!eof) {
    pollfd p{fd, static_cast<short>(POLLIN | (sent < out.size() ? POLLOUT : 0)), 0};
    const int left = remaining_ms(deadline);
    if (left == 0 || ::poll(&p, 1, left) == 0) {
      ::close(fd);
      throw std::runtime_error("HTTP " + method + " " + target + ": timed out with " +
                               std::to_string(in.size()) + " bytes read");
    }
    if ((p.revents & POLLOUT) && sent < out.size()) {
      const ssize_t w = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (w > 0) sent += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR)
        sent = out.size();  // the server stopped reading
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r > 0) {
        in.append(buf, static_cast<std::size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        eof = true;
      }
    }
  }
  ::close(fd);
  HttpResponse resp;
  const std::size_t eol = in.find("\r\n");
  if (in.rfind("HTTP/1.", 0) != 0 || eol == std::string::npos) {
    throw std::runtime_error("not an HTTP response: '" + in.substr(0, 100) + "'");
  }
  resp.status = std::stoi(in.substr(9, 3));
  const std::size_t body_at = parse_header_lines(in, eol + 2, &resp.headers);
  const std::string raw_body = in.substr(body_at);
  const auto te = resp.header("Transfer-Encoding");
  resp.body = (te && te->find("chunked") != std::string::npos) ? dechunk(raw_body) : raw_body;
  return resp;
}

// ---- InProcessServer -------------------------------------------------------------------

InProcessServer::InProcessServer(co::cgi::ServerOptions options, co::cgi::Handler handler) {
  options.handle_signals = false;
  server_ = std::make_unique<co::cgi::Server>(std::move(options), std::move(handler));
  thread_ = std::thread([this] {
    try {
      exit_code_ = server_->run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "in-process server: %s\n", e.what());
      exit_code_ = -1;
    }
  });
  const auto deadline = Clock::now() + 10s;
  while ((address_ = server_->bound_address()).empty()) {
    if (Clock::now() >= deadline)
      throw std::runtime_error("in-process server did not listen within 10 s");
    std::this_thread::sleep_for(1ms);
  }
}

InProcessServer::~InProcessServer() { stop_and_join(); }

std::uint16_t InProcessServer::port() const {
  return static_cast<std::uint16_t>(std::stoi(address_.substr(address_.rfind(':') + 1)));
}

int InProcessServer::stop_and_join() {
  if (!joined_) {
    server_->stop();
    thread_.join();
    joined_ = true;
  }
  return exit_code_;
}

// ---- the kernel's view ------------------------------------------------------------------

std::set<std::uint16_t> tcp_connections_to(std::uint16_t port) {
  std::set<std::uint16_t> peers;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (state == "0A") continue;  // LISTEN
    const auto port_of = [](const std::string& addr) {
      return static_cast<std::uint16_t>(std::stoul(addr.substr(addr.find(':') + 1), nullptr, 16));
    };
    if (port_of(local) == port) peers.insert(port_of(remote));
    if (port_of(remote) == port) peers.insert(port_of(local));
  }
  return peers;
}

std::size_t raise_fd_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

// ---- HTTP, bytes as they came ------------------------------------------------------------

std::optional<std::string> RawHttpResponse::header(std::string_view name) const {
  return find_header(headers, name);
}

RawHttpResponse http_get_raw(const std::string& host, std::uint16_t port, const std::string& target,
                             std::chrono::milliseconds timeout) {
  const int fd = connect_to(host + ":" + std::to_string(port));
  if (fd < 0) throw std::runtime_error("connect to nginx: " + std::string(std::strerror(errno)));
  const std::string out =
      "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (!send_all(fd, out)) {
    const int e = errno;
    ::close(fd);
    throw std::runtime_error("send to nginx: " + std::string(std::strerror(e)));
  }
  std::string in;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int left = remaining_ms(deadline);
    if (left == 0 || ::poll(&p, 1, left) == 0) {
      ::close(fd);
      throw std::runtime_error("HTTP GET " + target + ": timed out with " +
                               std::to_string(in.size()) + " bytes read");
    }
    char buf[65536];
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r > 0) {
      in.append(buf, static_cast<std::size_t>(r));
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
      break;  // EOF, or a reset: the end either way
    }
  }
  ::close(fd);
  RawHttpResponse resp;
  const std::size_t eol = in.find("\r\n");
  if (in.rfind("HTTP/1.", 0) != 0 || eol == std::string::npos) {
    throw std::runtime_error("not an HTTP response: '" + in.substr(0, 100) + "'");
  }
  resp.status = std::stoi(in.substr(9, 3));
  const std::size_t body_at = parse_header_lines(in, eol + 2, &resp.headers);
  resp.raw_body = in.substr(body_at);
  const auto te = resp.header("Transfer-Encoding");
  resp.chunked = te && te->find("chunked") != std::string::npos;
  if (!resp.chunked) {
    resp.body = resp.raw_body;
    return resp;
  }
  // De-chunk as far as whole chunks go; complete only with "0\r\n" and the final CRLF.
  const std::string& raw = resp.raw_body;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t line_end = raw.find("\r\n", pos);
    if (line_end == std::string::npos || line_end == pos) break;
    char* end = nullptr;
    const std::string size_text = raw.substr(pos, line_end - pos);
    const unsigned long size = std::strtoul(size_text.c_str(), &end, 16);
    if (end == size_text.c_str()) break;
    pos = line_end + 2;
    if (size == 0) {
      resp.chunked_complete = raw.compare(pos, 2, "\r\n") == 0;
      break;
    }
    if (raw.size() < pos + size) {
      resp.body.append(raw, pos, std::string::npos);
      break;
    }
    resp.body.append(raw, pos, size);
    pos += size;
    if (raw.compare(pos, 2, "\r\n") != 0) break;
    pos += 2;
  }
  return resp;
}

}  // namespace cgi_test
