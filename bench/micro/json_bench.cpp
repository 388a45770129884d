// json_bench: co::cgi::JsonWriter against nlohmann-json for the two documents TechEmpower's
// tests write: {"message":"Hello, World!"} and an array of 20 {"id":N,"randomNumber":M}.
// Prints ns per document for each, 3 rounds, the two writers alternating within a round.
//   taskset -c 0 build-bench/bench/micro/json_bench
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cofcgi/cgi/json.h"

namespace {

struct World {
  int id;
  int random_number;
};

constexpr int kIterations = 200000;
World g_worlds[20];
std::size_t g_sink = 0;  // every document's size, so nothing is optimised away

template <typename Body>
double ns_per_document(Body body) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kIterations; ++i) g_sink += body();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / kIterations;
}

std::size_t writer_worlds() {
  std::string out;
  co::cgi::JsonWriter json(out);
  json.begin_array();
  for (const World& w : g_worlds)
    json.begin_object()
        .key("id")
        .value(w.id)
        .key("randomNumber")
        .value(w.random_number)
        .end_object();
  json.end_array();
  return out.size();
}

std::size_t nlohmann_worlds() {
  nlohmann::json list = nlohmann::json::array();
  for (const World& w : g_worlds) list.push_back({{"id", w.id}, {"randomNumber", w.random_number}});
  return list.dump().size();
}

std::size_t writer_message() {
  std::string out;
  co::cgi::JsonWriter(out).begin_object().key("message").value("Hello, World!").end_object();
  return out.size();
}

std::size_t nlohmann_message() {
  return nlohmann::json{{"message", "Hello, World!"}}.dump().size();
}

}  // namespace

int main() {
  for (int i = 0; i < 20; ++i) g_worlds[i] = {i * 487 % 10000 + 1, i * 7919 % 10000};
  std::printf(
      "| round | 20 worlds: JsonWriter ns | nlohmann ns | ratio | message: JsonWriter ns | "
      "nlohmann ns | ratio |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int round = 1; round <= 3; ++round) {
    const double ww = ns_per_document(writer_worlds), nw = ns_per_document(nlohmann_worlds);
    const double wm = ns_per_document(writer_message), nm = ns_per_document(nlohmann_message);
    std::printf("| %d | %.0f | %.0f | %.1fx | %.0f | %.0f | %.1fx |\n", round, ww, nw, nw / ww, wm,
                nm, nm / wm);
  }
  return g_sink == 0;
}
