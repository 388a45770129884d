// OpenSSL 3 inside coroutines: RAII handles for SSL_CTX and SSL, context setup, and a TLS
// stream over a blocking socket.
//
// OpenSSL needs nothing from us to run in coroutines: give it a plain BLOCKING socket
// (SSL_set_fd) and its socket BIO's read()/write() are hooked, so a coroutine blocked in
// SSL_connect / SSL_accept / SSL_read / SSL_write / SSL_shutdown parks and the thread runs
// the others. These helpers only remove boilerplate and take care of one trap:
//
//  - OpenSSL's error queue is per THREAD, so all the coroutines of a thread share it. A
//    coroutine that leaves errors queued makes SSL_get_error() of another coroutine report
//    SSL_ERROR_SSL for a plain EOF or timeout (OpenSSL: "the current thread's error queue
//    must be empty before the TLS/SSL I/O operation is attempted"); the errors can arrive
//    while that coroutine is parked inside SSL_read, so clearing before the call is not
//    enough. Every call here clears the queue before the operation and drains it into the
//    Error it throws right after, before the coroutine can park again; Stream tells a clean
//    close (SSL_get_shutdown) and a timeout (the retry state) without the queue, so a
//    neighbour's leftovers cannot change them. Code calling SSL_* itself must drain after
//    failures the same way. (OpenSSL clears the whole queue itself
//    whenever it enters its handshake state machine, in SSL_connect/SSL_accept and for TLS
//    1.3 post-handshake messages inside SSL_read: one more way coroutines of a thread touch
//    each other's queue.)
//  - A timeout set on the socket (SO_RCVTIMEO / SO_SNDTIMEO) bounds each blocking read or
//    write as the hooks park; OpenSSL then sees EAGAIN and reports SSL_ERROR_WANT_READ /
//    _WANT_WRITE, which Stream turns into an Error with timed_out() true.
//  - Writing to a peer that has gone raises SIGPIPE, as a plain write() does: servers
//    ignore it (signal(SIGPIPE, SIG_IGN)), as any socket server must.
//  - An SSL* is used by one coroutine at a time (OpenSSL's rule for threads, unchanged).
//    SSL_CTX may be shared by every coroutine and thread.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "cofcgi/runtime/export.h"

// OpenSSL's handle types (openssl/types.h), declared so this header does not need OpenSSL's.
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace co::tls {

struct COFCGI_API CtxFree {
  void operator()(SSL_CTX* ctx) const noexcept;
};
struct COFCGI_API SslFree {
  void operator()(SSL* ssl) const noexcept;
};
using Ctx = std::unique_ptr<SSL_CTX, CtxFree>;  // SSL_CTX_free on destruction
using Ssl = std::unique_ptr<SSL, SslFree>;      // SSL_free on destruction

// Error: a failed OpenSSL call, with the reason OpenSSL gave.
class COFCGI_API Error : public std::runtime_error {
 public:
  Error(const std::string& message, int ssl_error, unsigned long code, bool timed_out = false);
  // ssl_error: SSL_get_error() of the failed I/O call (SSL_ERROR_SSL, SSL_ERROR_SYSCALL, ...);
  // 0 for context setup.
  int ssl_error() const { return ssl_error_; }
  // code: the first packed error of OpenSSL's queue (ERR_GET_REASON(code()) ...), 0 if none.
  unsigned long code() const { return code_; }
  // timed_out: the socket's SO_RCVTIMEO / SO_SNDTIMEO passed.
  bool timed_out() const { return timed_out_; }

 private:
  int ssl_error_;
  unsigned long code_;
  bool timed_out_;
};

// take_errors empties the calling thread's OpenSSL error queue and returns its entries as
// text ("; "-separated, empty when it was empty).
COFCGI_API std::string take_errors();

// server_context: TLS_server_method, TLS 1.2 or newer, the certificate chain and its private
// key from PEM files (checked to match). Throws Error.
COFCGI_API Ctx server_context(const std::string& cert_chain_file, const std::string& key_file);
// server_context_pem: the same from PEM text in memory (the chain: leaf first).
COFCGI_API Ctx server_context_pem(std::string_view cert_chain_pem, std::string_view key_pem);

struct ClientOptions {
  // Verify the server's certificate chain and its name: Stream::connect then needs the host
  // name (or IP address) to check (partial wildcards such as f*.example.com match nothing).
  // false: no verification at all, for callers that say so.
  bool verify_peer = true;
  // PEM file of the certificates to trust; empty: the system's (SSL_CTX_set_default_verify_paths).
  std::string ca_file;
};
// client_context: TLS_client_method, TLS 1.2 or newer. Throws Error.
COFCGI_API Ctx client_context(const ClientOptions& options = {});

// Stream: one TLS connection over a connected BLOCKING socket, which the stream owns (closed
// when the stream goes, after SSL_free; also when connect/accept throw). Every call parks
// only the calling coroutine, and blocks the thread as plain OpenSSL does elsewhere.
class COFCGI_API Stream {
 public:
  Stream() = default;
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  // Frees the SSL and closes the socket without a close_notify: call shutdown() first for
  // an orderly close.
  ~Stream();

  // connect runs the client handshake. host is sent as SNI (names only) and, when the context
  // verifies peers, must match the certificate (a name or an IP address); a verifying
  // context with an empty host throws Error before the handshake (the fd is closed). host
  // may be empty only with verify_peer = false.
  static Stream connect(SSL_CTX* ctx, int fd, const std::string& host = {});
  // accept runs the server handshake.
  static Stream accept(SSL_CTX* ctx, int fd);

  // read returns up to n bytes (at least 1), or 0 when the peer closed with close_notify.
  // A connection cut without close_notify throws (OpenSSL: "unexpected eof").
  std::size_t read(void* buf, std::size_t n);
  // read_until reads until `delim` (included) or `max` bytes; returns what it read (shorter
  // without delim when the peer closed first). Buffers nothing beyond delim: reads a byte at
  // a time from OpenSSL's record buffer (no syscall per byte).
  std::string read_until(char delim, std::size_t max);
  // write sends all n bytes.
  void write(const void* buf, std::size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // shutdown sends close_notify (it does not wait for the peer's). Returns false, with the
  // queue drained, when it could not be sent (peer gone).
  bool shutdown() noexcept;

  SSL* ssl() const { return ssl_.get(); }
  int fd() const { return fd_; }
  explicit operator bool() const { return ssl_ != nullptr; }

 private:
  Stream(Ssl ssl, int fd) : ssl_(std::move(ssl)), fd_(fd) {}
  void reset() noexcept;

  Ssl ssl_;
  int fd_ = -1;
};

}  // namespace co::tls
