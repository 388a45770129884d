/*
 * Producer/consumer on a co_cond, written the way libco programs are.
 *
 * One producer coroutine makes TASK_COUNT tasks, signalling a co_cond after each; one
 * consumer takes them off the queue, waiting on the cond with a timeout when it is empty.
 * Every third task the producer pauses longer than the consumer waits, so the consumer also
 * sees co_cond_timedwait time out (-1, errno ETIMEDOUT). co_eventloop drives both and a
 * tick function ends the loop once every task is consumed.
 *
 * Usage: libco_cond [TASK_COUNT]
 */
#include "co_routine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <queue>
using namespace std;

struct stTask_t
{
	int id;
};
struct stEnv_t
{
	stCoCond_t* cond;
	queue<stTask_t*> task_queue;
	int task_count;
	int consumed;
	int timeouts;
	bool done;
};

static const int kConsumerWaitMs = 20;

static void* Producer(void* args)
{
	co_enable_hook_sys();
	stEnv_t* env = (stEnv_t*)args;
	for (int id = 1; id <= env->task_count; ++id)
	{
		stTask_t* task = (stTask_t*)calloc(1, sizeof(stTask_t));
		task->id = id;
		env->task_queue.push(task);
		printf("%s:%d produce task %d\n", __func__, __LINE__, task->id);
		co_cond_signal(env->cond);
		/* sleep without blocking the thread; now and then longer than the consumer waits */
		co_poll(co_get_epoll_ct(), NULL, 0, id % 3 == 0 ? 3 * kConsumerWaitMs : 1);
	}
	return NULL;
}

static void* Consumer(void* args)
{
	co_enable_hook_sys();
	stEnv_t* env = (stEnv_t*)args;
	while (env->consumed < env->task_count)
	{
		if (env->task_queue.empty())
		{
			if (co_cond_timedwait(env->cond, kConsumerWaitMs) != 0)
			{
				if (errno != ETIMEDOUT)
				{
					printf("%s:%d co_cond_timedwait: %s\n", __func__, __LINE__, strerror(errno));
					break;
				}
				++env->timeouts;
				printf("%s:%d no task within %d ms\n", __func__, __LINE__, kConsumerWaitMs);
			}
			continue;
		}
		stTask_t* task = env->task_queue.front();
		env->task_queue.pop();
		printf("%s:%d consume task %d\n", __func__, __LINE__, task->id);
		++env->consumed;
		free(task);
	}
	env->done = true;
	return NULL;
}

static int TickFunc(void* args)
{
	stEnv_t* env = (stEnv_t*)args;
	return env->done ? -1 : 0; /* -1 ends co_eventloop */
}

int main(int argc, char* argv[])
{
	stEnv_t* env = new stEnv_t();
	env->cond = co_cond_alloc();
	env->task_count = argc > 1 ? atoi(argv[1]) : 10;

	stCoRoutine_t* consumer_routine = NULL;
	co_create(&consumer_routine, NULL, Consumer, env);
	co_resume(consumer_routine);

	stCoRoutine_t* producer_routine = NULL;
	co_create(&producer_routine, NULL, Producer, env);
	co_resume(producer_routine);

	co_eventloop(co_get_epoll_ct(), TickFunc, env);

	printf("cond: %d of %d tasks consumed, %d timeouts\n", env->consumed, env->task_count,
	       env->timeouts);
	bool ok = env->consumed == env->task_count && env->timeouts > 0;
	co_release(producer_routine);
	co_release(consumer_routine);
	co_cond_free(env->cond);
	delete env;
	return ok ? 0 : 1;
}
