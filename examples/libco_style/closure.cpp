/*
 * Closures with co_ref/co_func, written the way libco programs are.
 *
 * co_ref(ref, ...) bundles references to main's variables; each co_func(...) closure
 * copies `ref` and the loop's values at the point it is made. The closures run later, each
 * in its own coroutine: every one still sees the values it captured (copies) and adds to
 * main's variables (through the references).
 *
 * Usage: libco_closure [CLOSURE_COUNT]
 */
#include "co_closure.h"
#include "co_routine.h"

#include <stdio.h>
#include <stdlib.h>

#include <vector>
using namespace std;

static int g_finished = 0;

static void* ClosureRoutine(void* args)
{
	co_enable_hook_sys();
	stCoClosure_t* closure = (stCoClosure_t*)args;
	co_poll(co_get_epoll_ct(), NULL, 0, 1); /* let the others start first */
	closure->exec();
	++g_finished;
	return NULL;
}

static int TickFunc(void* args)
{
	int closure_count = *(int*)args;
	return g_finished == closure_count ? -1 : 0; /* -1 ends co_eventloop */
}

int main(int argc, char* argv[])
{
	int closure_count = argc > 1 ? atoi(argv[1]) : 10;

	int total = 0;
	vector<int> order;
	co_ref(ref, total, order);

	vector<stCoClosure_t*> closures;
	for (int i = 1; i <= closure_count; ++i)
	{
		int square = i * i;
		co_func(add_square, ref, i, square)
		{
			printf("closure %d adds %d\n", i, square);
			ref.total += square;
			ref.order.push_back(i);
		}
		co_func_end;
		closures.push_back(new add_square(ref, i, square));
	}

	/* i and square are gone; each closure kept its own copies */
	vector<stCoRoutine_t*> routines(closures.size());
	for (size_t i = 0; i < closures.size(); ++i)
	{
		co_create(&routines[i], NULL, ClosureRoutine, closures[i]);
		co_resume(routines[i]);
	}
	co_eventloop(co_get_epoll_ct(), TickFunc, &closure_count);

	int expected = closure_count * (closure_count + 1) * (2 * closure_count + 1) / 6;
	printf("closure: %d closures ran, total %d (expected %d)\n", (int)order.size(), total, expected);
	for (size_t i = 0; i < closures.size(); ++i)
	{
		co_release(routines[i]);
		delete closures[i];
	}
	return total == expected && (int)order.size() == closure_count ? 0 : 1;
}
