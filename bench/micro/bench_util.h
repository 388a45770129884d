// Helpers shared by the micro benchmarks: a monotonic clock, medians, the command line
// (--reps, --iters) and a Markdown table printer. Every benchmark measures its peers
// inside the same repetition loop (peer order inside one repetition, repetitions outside),
// so that the noise of a shared machine hits all of them alike, and reports the median.
#pragma once

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace bench {

inline std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline double min_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

inline double max_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

// Keeps the compiler from deleting a computation whose result is otherwise unused.
template <typename T>
inline void do_not_optimize(T const& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

struct Args {
  int reps = 5;
  long iters = 0;  // 0: the benchmark's default
  std::vector<std::string> flags;
  bool has(const char* flag) const {
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
  }
};

inline Args parse_args(int argc, char** argv, const char* usage) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      a.reps = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
      a.iters = std::atol(argv[++i]);
    } else if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      std::printf("%s\n", usage);
      std::exit(0);
    } else {
      a.flags.emplace_back(argv[i]);
    }
  }
  if (a.reps < 1) a.reps = 1;
  return a;
}

// The CPU the process may run on, for the header line ("taskset -c 0" shows as "0").
inline std::string affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return "?";
  std::string s;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) {
      if (!s.empty()) s += ",";
      s += std::to_string(c);
    }
  }
  return s;
}

inline void print_header(const char* title, const Args& a) {
  char host[256] = "?";
  gethostname(host, sizeof host);
  std::printf("## %s\n\n", title);
  std::printf("host %s, cpus allowed: %s, repetitions: %d (median reported; min/max shown)\n\n",
              host, affinity().c_str(), a.reps);
  std::fflush(stdout);
}

// A row: name, the samples (one per repetition) and free text.
struct Row {
  std::string name;
  std::vector<double> samples;
  std::string note;
};

inline void print_table(const char* unit, const std::vector<Row>& rows) {
  std::printf("| case | %s (median) | min | max | note |\n", unit);
  std::printf("| --- | ---: | ---: | ---: | --- |\n");
  for (const Row& r : rows) {
    if (r.samples.empty()) {
      std::printf("| %s | n/a | | | %s |\n", r.name.c_str(), r.note.c_str());
      continue;
    }
    std::printf("| %s | %.2f | %.2f | %.2f | %s |\n", r.name.c_str(), median(r.samples),
                min_of(r.samples), max_of(r.samples), r.note.c_str());
  }
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace bench
