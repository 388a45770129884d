// A tour of the C++ API: coroutines, sleeping, a channel, a wait group and a local.
#include <cstdio>
#include <string>

#include "cofcgi/runtime.h"

using namespace std::chrono_literals;

int main() {
  co::Channel<std::string> lines(4);
  co::WaitGroup producers;
  co::Local<int> served;  // each coroutine counts its own

  for (int p = 0; p < 3; ++p) {
    producers.add();
    co::go([&, p] {
      for (int i = 0; i < 3; ++i) {
        co::sleep_for(10ms * (p + 1));  // parks this coroutine only
        ++*served;
        lines.send("producer " + std::to_string(p) + " line " + std::to_string(i) +
                   " (its own count: " + std::to_string(*served) + ")");
      }
      producers.done();
    });
  }
  co::go([&] {
    producers.wait();
    lines.close();
  });
  co::go([&] {
    while (auto line = lines.receive()) std::printf("%s\n", line->c_str());
  });
  co::run();  // returns when every coroutine has finished
  return 0;
}
