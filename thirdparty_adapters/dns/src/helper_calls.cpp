#include <errno.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "helper_thread.h"
#include "real_netdb.h"

namespace co::dns {
namespace {

const real::Functions& R() { return real::get(); }

const char* c_str(const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; }

// A gethostbyXX_r call on a helper thread: `call` runs there with a buffer of `buflen`.
template <typename Call>
HostCall host_call_on_helper(std::size_t buflen, Call call) {
  auto out = std::make_shared<HostCall>();
  if (!run_on_helper_thread([out, buflen, call] {
        std::vector<char> buf(buflen);
        hostent he{};
        hostent* res = nullptr;
        out->rc = call(&he, buf.data(), buf.size(), &res, &out->herrno);
        out->err = errno;
        out->found = res != nullptr;
        if (res != nullptr) out->data = host_data_of(res);
      })) {
    return HostCall{errno, NETDB_INTERNAL, errno, false, {}};
  }
  return std::move(*out);
}

}  // namespace

int getaddrinfo_on_helper(const char* node, const char* service, const addrinfo* hints,
                          addrinfo** res) {
  struct Job {
    std::optional<std::string> node, service;
    std::optional<addrinfo> hints;
    int rc = 0, err = 0, herrno = 0;
    addrinfo* res = nullptr;  // handed to the caller, or freed with the job (wait ended)
    ~Job() {
      if (res != nullptr) R().freeaddrinfo(res);
    }
  };
  auto job = std::make_shared<Job>();
  job->node = node;
  if (service != nullptr) job->service = service;
  if (hints != nullptr) {
    job->hints = addrinfo{};
    job->hints->ai_flags = hints->ai_flags;
    job->hints->ai_family = hints->ai_family;
    job->hints->ai_socktype = hints->ai_socktype;
    job->hints->ai_protocol = hints->ai_protocol;
  }
  if (!run_on_helper_thread([job] {
        job->rc = R().getaddrinfo(c_str(job->node), c_str(job->service),
                                  job->hints ? &*job->hints : nullptr, &job->res);
        job->err = errno;
        job->herrno = h_errno;
      })) {
    return EAI_SYSTEM;
  }
  if (job->rc == 0) *res = std::exchange(job->res, nullptr);
  h_errno = job->herrno;  // thread-local there: carried back
  if (job->rc == EAI_SYSTEM) errno = job->err;
  return job->rc;
}

HostCall gethostbyname_on_helper(const char* name, int af, bool v2, std::size_t buflen) {
  return host_call_on_helper(buflen, [n = std::string(name), af, v2](auto... out) {
    return v2 ? R().gethostbyname2_r(n.c_str(), af, out...)
              : R().gethostbyname_r(n.c_str(), out...);
  });
}

HostCall gethostbyaddr_on_helper(const void* addr, socklen_t len, int af, std::size_t buflen) {
  std::string a(static_cast<const char*>(addr), len);
  return host_call_on_helper(buflen, [a = std::move(a), len, af](auto... out) {
    return R().gethostbyaddr_r(a.data(), len, af, out...);
  });
}

int getnameinfo_on_helper(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                          char* serv, socklen_t servlen, int flags) {
  struct Job {
    std::vector<char> sa, host, serv;
    int rc = 0, err = 0, herrno = 0;
  };
  auto job = std::make_shared<Job>();
  job->sa.assign(reinterpret_cast<const char*>(sa), reinterpret_cast<const char*>(sa) + salen);
  job->host.resize(hostlen);
  job->serv.resize(serv != nullptr ? servlen : 0);
  if (!run_on_helper_thread([job, flags] {
        job->rc = R().getnameinfo(reinterpret_cast<const sockaddr*>(job->sa.data()),
                                  static_cast<socklen_t>(job->sa.size()), job->host.data(),
                                  static_cast<socklen_t>(job->host.size()),
                                  job->serv.empty() ? nullptr : job->serv.data(),
                                  static_cast<socklen_t>(job->serv.size()), flags);
        job->err = errno;
        job->herrno = h_errno;
      })) {
    return EAI_SYSTEM;
  }
  h_errno = job->herrno;
  if (job->rc == 0 || job->rc == EAI_OVERFLOW) {
    std::memcpy(host, job->host.data(), hostlen);
    if (!job->serv.empty()) std::memcpy(serv, job->serv.data(), servlen);
  }
  if (job->rc == EAI_SYSTEM) errno = job->err;
  return job->rc;
}

}  // namespace co::dns
