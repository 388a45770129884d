// Shared by the TLS and libcurl adapter tests: a self-signed certificate made at test time
// (OpenSSL API, in memory, also written to a temp dir for the tools that want files), loopback
// sockets, a server thread with its own scheduler (one coroutine per connection), and a
// ticker that proves the client thread never blocked. Everything here uses the plain
// (hooked) libc calls.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "cofcgi/runtime.h"

namespace tls_test {

using namespace std::chrono_literals;

inline double seconds_since(co::Deadline start) {
  return static_cast<double>(co::now_ns() - start) / 1e9;
}

// Cert: a self-signed EC P-256 certificate for CN=localhost with subjectAltName
// DNS:localhost and IP:127.0.0.1 (so clients can verify either name), or the names given,
// made with the OpenSSL API. The PEM texts are also written to a fresh temp dir (cert.pem,
// key.pem), removed with the object.
class Cert {
 public:
  explicit Cert(const std::string& cn = "localhost",
                const std::string& subject_alt_names = "DNS:localhost,IP:127.0.0.1") {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    REQUIRE(key != nullptr);
    X509* x = X509_new();
    REQUIRE(x != nullptr);
    REQUIRE(X509_set_version(x, 2) == 1);  // v3
    unsigned char serial[8];
    REQUIRE(RAND_bytes(serial, sizeof serial) == 1);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    REQUIRE(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nullptr);
    BN_free(bn);
    REQUIRE(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nullptr);
    REQUIRE(X509_gmtime_adj(X509_getm_notAfter(x), 86400) != nullptr);
    REQUIRE(X509_set_pubkey(x, key) == 1);
    X509_NAME* name = X509_get_subject_name(x);
    REQUIRE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                       0) == 1);
    REQUIRE(X509_set_issuer_name(x, name) == 1);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    // What `openssl req -x509` puts in a self-signed certificate, plus the names.
    const std::pair<int, const char*> exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_subject_key_identifier, "hash"},
        {NID_subject_alt_name, subject_alt_names.c_str()},
    };
    for (const auto& [nid, value] : exts) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      REQUIRE(ext != nullptr);
      REQUIRE(X509_add_ext(x, ext, -1) == 1);
      X509_EXTENSION_free(ext);
    }
    REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
    cert_pem_ = to_pem([x](BIO* b) { return PEM_write_bio_X509(b, x); });
    key_pem_ = to_pem([key](BIO* b) {
      return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
    X509_free(x);
    EVP_PKEY_free(key);

    char dir[] = "/tmp/cofcgi-tls-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    cert_file_ = dir_ + "/cert.pem";
    key_file_ = dir_ + "/key.pem";
    write_file(cert_file_, cert_pem_);
    write_file(key_file_, key_pem_);
  }
  ~Cert() {
    // The tests may leave other files here (s_client's stderr): remove everything.
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") ::unlink((dir_ + "/" + n).c_str());
      }
      ::closedir(d);
    }
    ::rmdir(dir_.c_str());
  }
  Cert(const Cert&) = delete;
  Cert& operator=(const Cert&) = delete;

  const std::string& cert_pem() const { return cert_pem_; }
  const std::string& key_pem() const { return key_pem_; }
  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }
  const std::string& dir() const { return dir_; }

 private:
  template <typename F>
  static std::string to_pem(F write) {
    BIO* b = BIO_new(BIO_s_mem());
    REQUIRE(b != nullptr);
    REQUIRE(write(b) == 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string s(data, static_cast<size_t>(n));
    BIO_free(b);
    return s;
  }
  static void write_file(const std::string& path, const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(text.data(), 1, text.size(), f) == text.size());
    REQUIRE(std::fclose(f) == 0);
  }

  std::string cert_pem_, key_pem_, dir_, cert_file_, key_file_;
};

inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// listen_loopback: a blocking listener on 127.0.0.1, kernel-chosen port.
inline int listen_loopback(std::uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  const int one = 1;
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
  sockaddr_in a = loopback(0);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1024) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  *port = ntohs(a.sin_port);
  return fd;
}

// connect_loopback: a connected BLOCKING socket to 127.0.0.1:port, -1 on failure (no
// doctest macros: callable from any thread or coroutine).
inline int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const sockaddr_in a = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline void update_max(std::atomic<int>& max, int value) {
  int cur = max.load();
  while (value > cur && !max.compare_exchange_weak(cur, value)) {
  }
}

// ServerThread: a std::thread with its own scheduler accepting on a fresh 127.0.0.1
// listener; every connection runs handler(fd) in its own co::go coroutine there (the handler
// owns the fd). stop() closes the listener on that thread (which wakes the accept with
// EBADF), lets the running handlers finish, and joins. The handler must not use doctest
// macros (another thread): it reports through atomics.
class ServerThread {
 public:
  using Handler = std::function<void(int fd)>;
  explicit ServerThread(Handler handler) : handler_(std::move(handler)) {
    listener_ = listen_loopback(&port_);
    std::promise<co::Executor> ready;
    std::future<co::Executor> executor = ready.get_future();
    thread_ = std::thread([this, ready = std::move(ready)]() mutable {
      ready.set_value(co::Executor::current());
      co::go([this] { accept_loop(); });
      co::run();
    });
    executor_.emplace(executor.get());
  }
  ~ServerThread() { stop(); }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  void stop() {
    if (!thread_.joinable()) return;
    const int fd = listener_;
    executor_->post([fd] { ::close(fd); });
    thread_.join();
  }

 private:
  void accept_loop() {
    for (;;) {
      const int c = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // EBADF: stop() closed the listener
      }
      ++accepted_;
      co::go([this, c] { handler_(c); });
    }
  }

  Handler handler_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::optional<co::Executor> executor_;
  std::thread thread_;
};

// Ticker: a coroutine of the calling thread that wakes every 5 ms until stop().
// max_gap_ms() is the longest the thread left it waiting: CPU work of the other coroutines
// (50 TLS handshakes back to back), preemption on a loaded machine, or a call that blocked
// the thread. BlockWatch below tells the last apart.
class Ticker {
 public:
  void start() {
    co::go([this] {
      co::Deadline last = co::now_ns();
      while (!stop_) {
        co::sleep_for(5ms);
        const co::Deadline now = co::now_ns();
        max_gap_ = std::max(max_gap_, now - last);
        last = now;
        ++ticks_;
      }
    });
  }
  void stop() { stop_ = true; }
  double max_gap_ms() const { return static_cast<double>(max_gap_) / 1e6; }
  int ticks() const { return ticks_; }

 private:
  bool stop_ = false;
  co::Deadline max_gap_ = 0;
  int ticks_ = 0;
};

// BlockWatch: proves a thread never blocked outside its scheduler's idle wait, however
// loaded the machine. A plain thread (no scheduler: its calls are libc's) reads the watched
// thread's /proc/self/task/<tid>/syscall every 2 ms and records the longest stretch spent
// in one blocking system call other than epoll_wait/epoll_pwait (where an idle scheduler
// sleeps, all its coroutines parked), and which call it was. A hooked call that parks never
// shows; a call that blocks the thread (pthread_join's futex, an unhooked read) shows for as
// long as it blocks. Being preempted does not count (the file says "running" then).
class BlockWatch {
 public:
  BlockWatch() : tid_(::gettid()), thread_([this] { watch(); }) {}
  ~BlockWatch() { stop(); }
  BlockWatch(const BlockWatch&) = delete;
  BlockWatch& operator=(const BlockWatch&) = delete;

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  double longest_ms() const { return static_cast<double>(longest_ns_.load()) / 1e6; }
  long longest_syscall() const { return longest_nr_.load(); }  // -1: none seen
  int samples() const { return samples_.load(); }
  std::string describe() const {
    return std::to_string(longest_ms()) + " ms in syscall " + std::to_string(longest_syscall()) +
           " (" + std::to_string(samples()) + " samples)";
  }

 private:
  // current_syscall: the watched thread's system call number, -1 when it runs in user
  // space, -2 when the file cannot be read; *line gets the whole line (number, arguments,
  // stack and instruction pointers: what tells one call from the next of the same kind).
  long current_syscall(std::string* line) const {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", static_cast<int>(tid_));
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -2;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return -2;
    buf[n] = '\0';
    if (buf[0] < '0' || buf[0] > '9') return -1;  // "running"
    line->assign(buf, static_cast<size_t>(n));
    return std::strtol(buf, nullptr, 10);
  }
  static bool idle_wait(long nr) {
    return nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == 441;
  }

  void watch() {
    std::string in_call;  // the call the thread sat in at the last sample ("": none)
    std::string line;
    co::Deadline since = 0;
    while (!stop_) {
      const long nr = current_syscall(&line);
      const co::Deadline now = co::now_ns();
      ++samples_;
      if (nr >= 0 && !idle_wait(nr)) {
        if (line != in_call) {
          in_call = line;
          since = now;
        } else if (now - since > longest_ns_.load()) {
          longest_ns_ = now - since;
          longest_nr_ = nr;
        }
      } else {
        in_call.clear();
      }
      const timespec two_ms{0, 2'000'000};
      ::nanosleep(&two_ms, nullptr);
    }
  }

  pid_t tid_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> longest_ns_{0};
  std::atomic<long> longest_nr_{-1};
  std::atomic<int> samples_{0};
  std::thread thread_;
};

}  // namespace tls_test
