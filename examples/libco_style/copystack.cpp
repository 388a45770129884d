/*
 * Shared ("copy") stacks with co_alloc_sharestack, written the way libco programs are.
 *
 * ROUTINE_COUNT coroutines run on SHARE_COUNT shared stacks. Each fills a buffer on its
 * stack with its own letter, then gives the CPU away twice over: first main resumes them
 * round-robin and they co_yield back, then they sleep in co_poll under co_eventloop. Every
 * time a coroutine runs again its buffer must still hold its letter, although others have
 * used the same stack memory in between (the runtime copies a parked coroutine's stack out
 * and back in).
 *
 * Usage: libco_copystack [ROUTINE_COUNT] [SHARE_COUNT]
 */
#include "co_routine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>
using namespace std;

static const int kYieldRounds = 3;
static const int kSleepRounds = 3;
static int g_finished = 0;
static int g_corrupted = 0;

static bool CheckBuffer(const char* buf, size_t len, char letter)
{
	for (size_t i = 0; i < len; ++i)
	{
		if (buf[i] != letter)
		{
			return false;
		}
	}
	return true;
}

static void* RoutineFunc(void* args)
{
	co_enable_hook_sys();
	int routine_id = *(int*)args;
	char letter = (char)('a' + routine_id % 26);
	char buf[8 * 1024]; /* lives on the shared stack */
	memset(buf, letter, sizeof(buf));
	for (int round = 0; round < kYieldRounds; ++round)
	{
		co_yield(co_self()); /* back to main, which resumes the next one */
		if (!CheckBuffer(buf, sizeof(buf), letter))
		{
			++g_corrupted;
		}
	}
	for (int round = 0; round < kSleepRounds; ++round)
	{
		co_poll(co_get_epoll_ct(), NULL, 0, 1 + routine_id % 3);
		if (!CheckBuffer(buf, sizeof(buf), letter))
		{
			++g_corrupted;
		}
	}
	printf("routine %d (%p) done, buffer of '%c' intact: %s\n", routine_id, (void*)co_self(), letter,
	       CheckBuffer(buf, sizeof(buf), letter) ? "yes" : "no");
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
	int share_count = argc > 2 ? atoi(argv[2]) : 2;

	stShareStack_t* share_stack = co_alloc_sharestack(share_count, 128 * 1024);
	if (share_stack == NULL)
	{
		printf("co_alloc_sharestack failed\n");
		return 1;
	}
	stCoRoutineAttr_t attr;
	attr.stack_size = 0;
	attr.share_stack = share_stack;

	vector<int> ids(routine_count);
	vector<stCoRoutine_t*> routines(routine_count);
	for (int i = 0; i < routine_count; ++i)
	{
		ids[i] = i;
		if (co_create(&routines[i], &attr, RoutineFunc, &ids[i]) != 0)
		{
			perror("co_create");
			return 1;
		}
	}
	/* the first resume starts each one; then one resume per co_yield */
	for (int round = 0; round <= kYieldRounds; ++round)
	{
		for (int i = 0; i < routine_count; ++i)
		{
			co_resume(routines[i]);
		}
	}
	co_eventloop(co_get_epoll_ct(), TickFunc, &routine_count);

	for (int i = 0; i < routine_count; ++i)
	{
		co_release(routines[i]);
	}
	printf("copystack: %d routines on %d shared stacks finished, %d corrupted buffers\n",
	       g_finished, share_count, g_corrupted);
	return g_finished == routine_count && g_corrupted == 0 ? 0 : 1;
}
