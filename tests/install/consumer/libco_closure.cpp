// A libco program that uses only co_closure.h (libco's example_closure does the same): the
// macros are header-only, so nothing of libcofcgi_runtime is called and --as-needed leaves
// only libcofcgi_hooks (kept by its link anchor) in the executable's DT_NEEDED. The hooks
// library must then find the runtime by itself. Prints "libco_closure: OK".
#include <pthread.h>
#include <stdio.h>

#include <vector>

#include "co_closure.h"

static void* run_closure(void* arg) {
  static_cast<stCoClosure_t*>(arg)->exec();
  return NULL;
}

int main() {
  int total = 0;
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  co_ref(shared, total, lock);
  std::vector<stCoClosure_t*> tasks;
  for (int i = 1; i <= 5; ++i) {
    co_func(add, shared, i) {
      pthread_mutex_lock(&shared.lock);
      shared.total += i;
      pthread_mutex_unlock(&shared.lock);
    }
    co_func_end;
    tasks.push_back(new add(shared, i));
  }
  std::vector<pthread_t> threads(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i)
    pthread_create(&threads[i], NULL, run_closure, tasks[i]);
  for (size_t i = 0; i < tasks.size(); ++i) {
    pthread_join(threads[i], NULL);
    delete tasks[i];
  }
  printf("closures ran, total %d\n", total);
  if (total != 15) return 1;
  printf("libco_closure: OK\n");
  return 0;
}
