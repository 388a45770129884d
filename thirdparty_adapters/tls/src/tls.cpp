// co::tls: see cofcgi/adapters/tls.h. Nothing here waits itself: OpenSSL's socket BIO calls
// read()/write() on the blocking socket, and the hooks park the coroutine there.
#include "cofcgi/adapters/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace co::tls {

void CtxFree::operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
void SslFree::operator()(SSL* ssl) const noexcept { SSL_free(ssl); }

Error::Error(const std::string& message, int ssl_error, unsigned long code, bool timed_out)
    : std::runtime_error(message), ssl_error_(ssl_error), code_(code), timed_out_(timed_out) {}

std::string take_errors() {
  std::string text;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text;
}

namespace {

// setup_error: a failed context or handle setup call, with the queue drained into it.
[[noreturn]] void throw_setup(const std::string& what) {
  const unsigned long code = ERR_peek_error();
  std::string detail = take_errors();
  throw Error(what + (detail.empty() ? std::string() : ": " + detail), 0, code);
}

// throw_io: a failed SSL I/O call. SSL_get_error looks at the queue, so it comes first;
// the queue is then drained into the Error, before this coroutine can park again and let
// another coroutine of the thread look at the queue.
[[noreturn]] void throw_io(SSL* ssl, int ret, int saved_errno, const char* what) {
  int err = SSL_get_error(ssl, ret);
  // A socket timeout: the BIO saw EAGAIN and asked to retry. SSL_get_error() says so only
  // when the queue is empty; the connection's own retry state says it either way.
  if ((err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) && saved_errno == EAGAIN &&
      (SSL_want_read(ssl) || SSL_want_write(ssl))) {
    err = SSL_want_read(ssl) ? SSL_ERROR_WANT_READ : SSL_ERROR_WANT_WRITE;
  }
  const unsigned long code = ERR_peek_error();
  const std::string detail = take_errors();
  std::string message = what;
  bool timed_out = false;
  switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: {
      // On a blocking socket only a socket timeout ends a wait with EAGAIN.
      const int fd = SSL_get_fd(ssl);
      const int fl = fd >= 0 ? ::fcntl(fd, F_GETFL) : -1;
      if (fl >= 0 && (fl & O_NONBLOCK)) {
        message += ": the socket is non-blocking (co::tls::Stream needs a blocking socket)";
      } else {
        timed_out = true;
        message += err == SSL_ERROR_WANT_READ ? ": timed out reading (SO_RCVTIMEO)"
                                              : ": timed out writing (SO_SNDTIMEO)";
      }
      break;
    }
    case SSL_ERROR_ZERO_RETURN:
      message += ": the peer closed the TLS connection (close_notify)";
      break;
    case SSL_ERROR_SYSCALL:
      if (saved_errno != 0) {
        message += ": ";
        message += std::strerror(saved_errno);
      } else {
        message += ": connection closed by the peer";
      }
      break;
    default: break;
  }
  if (!detail.empty()) message += ": " + detail;
  throw Error(message, err, code, timed_out);
}

void set_common_options(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
    throw_setup("SSL_CTX_set_min_proto_version");
  // A blocking socket: let OpenSSL retry internally after non-application records (default
  // since 1.1.1; stated so a changed default cannot surface as WANT_READ).
  SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
}

Ctx new_context(const SSL_METHOD* method) {
  ERR_clear_error();
  Ctx ctx(SSL_CTX_new(method));
  if (!ctx) throw_setup("SSL_CTX_new");
  set_common_options(ctx.get());
  return ctx;
}

struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> memory_bio(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw_setup("BIO_new_mem_buf");
  return bio;
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// FdGuard closes the socket unless released: a Stream owns its fd from the first call.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Ssl new_ssl(SSL_CTX* ctx, int fd) {
  ERR_clear_error();
  if (ctx == nullptr) throw Error("co::tls: no SSL_CTX", 0, 0);
  if (fd < 0) throw Error("co::tls: bad socket", 0, 0);
  Ssl ssl(SSL_new(ctx));
  if (!ssl) throw_setup("SSL_new");
  if (SSL_set_fd(ssl.get(), fd) != 1) throw_setup("SSL_set_fd");
  return ssl;
}

}  // namespace

Ctx server_context(const std::string& cert_chain_file, const std::string& key_file) {
  Ctx ctx = new_context(TLS_server_method());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_chain_file.c_str()) != 1)
    throw_setup("loading certificate chain " + cert_chain_file);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    throw_setup("loading private key " + key_file);
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    throw_setup("the private key does not match the certificate");
  return ctx;
}

Ctx server_context_pem(std::string_view cert_chain_pem, std::string_view key_pem) {
  Ctx ctx = new_context(TLS_server_method());
  {
    auto bio = memory_bio(cert_chain_pem);
    std::unique_ptr<X509, X509Free> leaf(
        PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
    if (!leaf) throw_setup("reading the certificate PEM");
    if (SSL_CTX_use_certificate(ctx.get(), leaf.get()) != 1) throw_setup("SSL_CTX_use_certificate");
    for (;;) {
      std::unique_ptr<X509, X509Free> ca(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (!ca) break;
      if (SSL_CTX_add0_chain_cert(ctx.get(), ca.get()) != 1) throw_setup("SSL_CTX_add0_chain_cert");
      (void)ca.release();  // add0: the context owns it now
    }
    ERR_clear_error();  // the loop ends on "no start line"
  }
  auto bio = memory_bio(key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) throw_setup("reading the private key PEM");
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1) throw_setup("SSL_CTX_use_PrivateKey");
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    throw_setup("the private key does not match the certificate");
  return ctx;
}

Ctx client_context(const ClientOptions& options) {
  Ctx ctx = new_context(TLS_client_method());
  if (options.verify_peer) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (options.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1)
        throw_setup("SSL_CTX_set_default_verify_paths");
    } else if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
      throw_setup("loading CA file " + options.ca_file);
    }
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

Stream::Stream(Stream&& other) noexcept
    : ssl_(std::move(other.ssl_)), fd_(std::exchange(other.fd_, -1)) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    reset();
    ssl_ = std::move(other.ssl_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Stream::~Stream() { reset(); }

void Stream::reset() noexcept {
  ssl_.reset();  // the socket BIO does not close the fd (BIO_NOCLOSE)
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

Stream Stream::connect(SSL_CTX* ctx, int fd, const std::string& host) {
  FdGuard guard(fd);
  const bool verify = (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0;
  // A trusted chain says only that some CA vouches for some name: without the name expected
  // here, any publicly trusted certificate would do.
  if (verify && host.empty()) {
    throw Error(
        "co::tls::Stream::connect: the context verifies peers but no host name was given to "
        "check the certificate against (pass the host, or use a context made with "
        "verify_peer = false)",
        0, 0);
  }
  Ssl ssl = new_ssl(ctx, fd);
  if (!host.empty()) {
    const bool ip = is_ip_address(host);
    // SNI carries names only (RFC 6066).
    if (!ip && SSL_set_tlsext_host_name(ssl.get(), host.c_str()) != 1)
      throw_setup("SSL_set_tlsext_host_name");
    if (verify) {
      // "f*.example.com" is no name of ours (RFC 6125 6.4.3 leaves it to the client; browsers
      // refuse it); "*.example.com" still covers one whole label.
      SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str())
                        : SSL_set1_host(ssl.get(), host.c_str());
      if (ok != 1) throw_setup("setting the name to verify: " + host);
    }
  }
  ERR_clear_error();
  errno = 0;
  const int ret = SSL_connect(ssl.get());
  const int saved_errno = errno;
  if (ret != 1) {
    std::string what = "SSL_connect";
    if (SSL_get_verify_result(ssl.get()) != X509_V_OK) {
      what += " (certificate: ";
      what += X509_verify_cert_error_string(SSL_get_verify_result(ssl.get()));
      what += ")";
    }
    throw_io(ssl.get(), ret, saved_errno, what.c_str());
  }
  return Stream(std::move(ssl), guard.release());
}

Stream Stream::accept(SSL_CTX* ctx, int fd) {
  FdGuard guard(fd);
  Ssl ssl = new_ssl(ctx, fd);
  ERR_clear_error();
  errno = 0;
  const int ret = SSL_accept(ssl.get());
  const int saved_errno = errno;
  if (ret != 1) throw_io(ssl.get(), ret, saved_errno, "SSL_accept");
  return Stream(std::move(ssl), guard.release());
}

std::size_t Stream::read(void* buf, std::size_t n) {
  if (!ssl_) throw Error("co::tls::Stream::read on an empty stream", 0, 0);
  if (n == 0) return 0;
  ERR_clear_error();
  errno = 0;
  std::size_t got = 0;
  const int ret = SSL_read_ex(ssl_.get(), buf, n, &got);
  const int saved_errno = errno;
  if (ret == 1) return got;
  // A clean close is told by the connection's own state, not by SSL_get_error(), which
  // looks at the thread's error queue first: a neighbour coroutine's leftovers there would
  // turn this close_notify into SSL_ERROR_SSL.
  if (SSL_get_shutdown(ssl_.get()) & SSL_RECEIVED_SHUTDOWN) {
    ERR_clear_error();
    return 0;
  }
  throw_io(ssl_.get(), ret, saved_errno, "SSL_read");
}

std::string Stream::read_until(char delim, std::size_t max) {
  std::string out;
  while (out.size() < max) {
    char c;
    if (read(&c, 1) == 0) break;
    out.push_back(c);
    if (c == delim) break;
  }
  return out;
}

void Stream::write(const void* buf, std::size_t n) {
  if (!ssl_) throw Error("co::tls::Stream::write on an empty stream", 0, 0);
  const char* p = static_cast<const char*>(buf);
  // Without SSL_MODE_ENABLE_PARTIAL_WRITE a successful SSL_write_ex wrote everything; loop
  // anyway in case a caller set the mode on the context.
  while (n > 0) {
    ERR_clear_error();
    errno = 0;
    std::size_t wrote = 0;
    const int ret = SSL_write_ex(ssl_.get(), p, n, &wrote);
    const int saved_errno = errno;
    if (ret != 1) throw_io(ssl_.get(), ret, saved_errno, "SSL_write");
    p += wrote;
    n -= wrote;
  }
}

bool Stream::shutdown() noexcept {
  if (!ssl_) return false;
  ERR_clear_error();
  const int ret = SSL_shutdown(ssl_.get());  // 0: sent, the peer's not seen yet; 1: both
  ERR_clear_error();
  return ret >= 0;
}

}  // namespace co::tls
