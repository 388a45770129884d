/*
 * Coroutine-specific data with CO_ROUTINE_SPECIFIC, written the way libco programs are.
 *
 * ROUTINE_COUNT coroutines share one global `__routine`, yet each sees its own
 * stRoutineSpecificData_t: each writes its id and name, sleeps (the others run and write
 * theirs), and checks that what it reads back is still its own. The thread's own stack
 * (main) has its own copy too, untouched by the coroutines.
 *
 * Usage: libco_specific [ROUTINE_COUNT]
 */
#include "co_routine.h"
#include "co_routine_specific.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>
using namespace std;

struct stRoutineArgs_t
{
	stCoRoutine_t* co;
	int routine_id;
};
struct stRoutineSpecificData_t
{
	int idx;
	char name[32];
};

CO_ROUTINE_SPECIFIC(stRoutineSpecificData_t, __routine);

static const int kRounds = 5;
static int g_finished = 0;
static int g_mismatches = 0;

static void* RoutineFunc(void* args)
{
	co_enable_hook_sys();
	stRoutineArgs_t* routine_args = (stRoutineArgs_t*)args;
	__routine->idx = routine_args->routine_id;
	snprintf(__routine->name, sizeof(__routine->name), "routine-%d", routine_args->routine_id);
	for (int round = 0; round < kRounds; ++round)
	{
		co_poll(co_get_epoll_ct(), NULL, 0, 1 + routine_args->routine_id % 3);
		char expected[32];
		snprintf(expected, sizeof(expected), "routine-%d", routine_args->routine_id);
		if (__routine->idx != routine_args->routine_id || strcmp(__routine->name, expected) != 0)
		{
			++g_mismatches;
		}
		printf("%s:%d routine %d round %d sees idx %d name %s\n", __func__, __LINE__,
		       routine_args->routine_id, round, __routine->idx, __routine->name);
	}
	++g_finished;
	return NULL;
}

static int TickFunc(void* args)
{
	int routine_count = *(int*)args;
	return g_finished == routine_count ? -1 : 0;
}

int main(int argc, char* argv[])
{
	int routine_count = argc > 1 ? atoi(argv[1]) : 10;

	__routine->idx = -1; /* the thread's own copy */
	snprintf(__routine->name, sizeof(__routine->name), "main");

	vector<stRoutineArgs_t> args(routine_count);
	for (int i = 0; i < routine_count; ++i)
	{
		args[i].routine_id = i;
		co_create(&args[i].co, NULL, RoutineFunc, &args[i]);
		co_resume(args[i].co);
	}
	co_eventloop(co_get_epoll_ct(), TickFunc, &routine_count);

	if (__routine->idx != -1 || strcmp(__routine->name, "main") != 0)
	{
		++g_mismatches;
	}
	for (int i = 0; i < routine_count; ++i)
	{
		co_release(args[i].co);
	}
	printf("specific: %d routines finished, %d mismatches\n", g_finished, g_mismatches);
	return g_finished == routine_count && g_mismatches == 0 ? 0 : 1;
}
