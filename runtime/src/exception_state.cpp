#include "exception_state.h"

namespace __cxxabiv1 {
struct __cxa_eh_globals;
extern "C" __cxa_eh_globals* __cxa_get_globals() noexcept;
}  // namespace __cxxabiv1

namespace co::detail {

ExceptionState* thread_exception_state() {
  // libstdc++ and libc++abi both lay out __cxa_eh_globals as { caughtExceptions,
  // uncaughtExceptions, ... }, which ExceptionState mirrors.
  return reinterpret_cast<ExceptionState*>(__cxxabiv1::__cxa_get_globals());
}

}  // namespace co::detail
