// RequestPhase: allowed_transition is exactly the diagram of request_phase.h, and
// RequestState::move_to refuses every other edge.
#include "request_phase.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "request_state.h"
#include "unit_test_util.h"

using co::cgi::detail::allowed_transition;
using co::cgi::detail::phase_name;
using co::cgi::detail::RequestPhase;
using cofcgi_test::UnitRequest;

namespace {

constexpr RequestPhase kPhases[] = {RequestPhase::reading_params, RequestPhase::running,
                                    RequestPhase::finishing, RequestPhase::aborted,
                                    RequestPhase::ended};

// The diagram, edge by edge.
bool in_diagram(RequestPhase from, RequestPhase to) {
  using P = RequestPhase;
  return (from == P::reading_params && to == P::running) ||  // params complete
         (from == P::running && to == P::finishing) ||       // handler returns
         (from == P::finishing && to == P::ended) ||         // sent (or the last write failed)
         (from == P::reading_params && to == P::ended) ||    // aborted / gone before the handler
         (from == P::running && to == P::aborted) ||         // ABORT_REQUEST / connection gone
         (from == P::aborted && to == P::ended);             // handler returns
}

// drive: a RequestState brought to `phase` along the diagram.
void drive(UnitRequest& r, RequestPhase phase) {
  switch (phase) {
    case RequestPhase::reading_params: return;
    case RequestPhase::running: r.state.move_to(RequestPhase::running); return;
    case RequestPhase::finishing:
      r.state.move_to(RequestPhase::running);
      r.state.move_to(RequestPhase::finishing);
      return;
    case RequestPhase::aborted:
      r.state.move_to(RequestPhase::running);
      r.state.move_to(RequestPhase::aborted);
      return;
    case RequestPhase::ended: r.state.move_to(RequestPhase::ended); return;
  }
}

}  // namespace

TEST_CASE("request_phase: allowed_transition is the diagram, every pair") {
  int edges = 0;
  for (const RequestPhase from : kPhases) {
    for (const RequestPhase to : kPhases) {
      CAPTURE(phase_name(from));
      CAPTURE(phase_name(to));
      CHECK(allowed_transition(from, to) == in_diagram(from, to));
      edges += allowed_transition(from, to) ? 1 : 0;
    }
  }
  CHECK(edges == 6);
  static_assert(allowed_transition(RequestPhase::reading_params, RequestPhase::running));
  static_assert(!allowed_transition(RequestPhase::ended, RequestPhase::reading_params));
}

TEST_CASE("request_phase: phase names") {
  CHECK(std::string(phase_name(RequestPhase::reading_params)) == "reading_params");
  CHECK(std::string(phase_name(RequestPhase::running)) == "running");
  CHECK(std::string(phase_name(RequestPhase::finishing)) == "finishing");
  CHECK(std::string(phase_name(RequestPhase::aborted)) == "aborted");
  CHECK(std::string(phase_name(RequestPhase::ended)) == "ended");
}

TEST_CASE("request_phase: RequestState starts reading params") {
  UnitRequest r;
  CHECK(r.state.phase == RequestPhase::reading_params);
  CHECK_FALSE(r.state.aborted());
}

TEST_CASE("request_phase: move_to takes the diagram's edges and throws on any other") {
  for (const RequestPhase from : kPhases) {
    for (const RequestPhase to : kPhases) {
      CAPTURE(phase_name(from));
      CAPTURE(phase_name(to));
      UnitRequest r;
      drive(r, from);
      REQUIRE(r.state.phase == from);
      if (in_diagram(from, to)) {
        CHECK_NOTHROW(r.state.move_to(to));
        CHECK(r.state.phase == to);
        CHECK(r.state.aborted() == (to == RequestPhase::aborted));
      } else {
        CHECK_THROWS_AS(r.state.move_to(to), std::logic_error);
        CHECK(r.state.phase == from);  // unchanged
      }
    }
  }
}

TEST_CASE("request_phase: the logic_error names both phases") {
  UnitRequest r;
  try {
    r.state.move_to(RequestPhase::finishing);
    FAIL("no throw");
  } catch (const std::logic_error& e) {
    const std::string what = e.what();
    CHECK(what.find("reading_params") != std::string::npos);
    CHECK(what.find("finishing") != std::string::npos);
  }
}
