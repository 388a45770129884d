// status_bench: what the status page's bookkeeping adds to every request (bench/README.md,
// "Status"): the worker's counters (request started/ended, with the maximum in flight) and
// the thread's registry of requests in flight (add and remove an intrusive entry), made
// around an empty "handler" in a coroutine, against the same loop without them. The park
// path's WaitSite (two stores per park) is in every parking benchmark already.
#include <memory>

#include "bench_util.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/scheduler.h"
#include "request_registry.h"
#include "worker_slots.h"

namespace {

using co::cgi::detail::InFlight;
using co::cgi::detail::InFlightScope;
using co::cgi::detail::RequestRegistry;
using co::cgi::detail::RequestState;
using co::cgi::detail::WorkerSlots;

[[gnu::noinline]] void handler(long* work) { bench::do_not_optimize(++*work); }

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv, "status_bench [--reps N] [--iters N]");
  const long iters = args.iters > 0 ? args.iters : 10'000'000;
  bench::print_header("status bookkeeping per request", args);
  WorkerSlots slots = WorkerSlots::create(1);
  auto& counters = slots.claim(0);
  RequestRegistry registry;
  // Entries are only linked, never read: any object's address names "the request".
  alignas(64) char fake_request[64];
  auto* request = reinterpret_cast<RequestState*>(fake_request);
  std::vector<bench::Row> rows = {{"without", {}, "the loop and the handler call"},
                                  {"with bookkeeping", {}, "counters + registry add/remove"}};
  co::go([&] {
    long work = 0;
    for (int rep = 0; rep < args.reps; ++rep) {
      std::int64_t t0 = bench::now_ns();
      for (long i = 0; i < iters; ++i) handler(&work);
      rows[0].samples.push_back(static_cast<double>(bench::now_ns() - t0) / iters);
      t0 = bench::now_ns();
      for (long i = 0; i < iters; ++i) {
        InFlight entry;
        counters.request_started();
        {
          const InFlightScope in_flight(registry, entry, *request);
          handler(&work);
        }
        counters.request_ended();
      }
      rows[1].samples.push_back(static_cast<double>(bench::now_ns() - t0) / iters);
    }
  });
  co::run();
  bench::print_table("ns per request", rows);
  return 0;
}
