/*
 * An echo server written the way libco programs are: a pool of worker coroutines, an accept
 * coroutine that hands each new connection to an idle worker, non-blocking sockets, co_poll
 * to wait for readiness, co_accept, and co_eventloop.
 *
 * It prints "listening on IP:PORT" once bound (PORT 0 picks a free port) and, when
 * MAX_CONNECTIONS is given, leaves the event loop after that many connections have closed.
 *
 * Usage: libco_echo_server IP PORT [WORKER_COUNT] [MAX_CONNECTIONS]
 */
#include "co_routine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stack>
using namespace std;

struct stTask_t
{
	stCoRoutine_t* co;
	int fd;
};

static stack<stTask_t*> g_idle_workers;
static int g_listen_fd = -1;
static int g_max_connections = 0;
static int g_closed_connections = 0;
static long long g_echoed_bytes = 0;

static int SetNonBlock(int fd)
{
	int flags = fcntl(fd, F_GETFL, 0);
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK | O_NDELAY);
}

/* Writes all of buf, waiting in co_poll whenever the socket buffer is full. */
static int WriteAll(int fd, const char* buf, int len)
{
	int done = 0;
	while (done < len)
	{
		int n = (int)write(fd, buf + done, len - done);
		if (n > 0)
		{
			done += n;
			continue;
		}
		if (n < 0 && errno == EAGAIN)
		{
			struct pollfd pf;
			memset(&pf, 0, sizeof(pf));
			pf.fd = fd;
			pf.events = POLLOUT | POLLERR | POLLHUP;
			co_poll(co_get_epoll_ct(), &pf, 1, 1000);
			continue;
		}
		return -1;
	}
	return done;
}

static void* WorkerRoutine(void* args)
{
	co_enable_hook_sys();
	stTask_t* task = (stTask_t*)args;
	char buf[16 * 1024];
	for (;;)
	{
		if (task->fd == -1)
		{
			g_idle_workers.push(task);
			co_yield_ct(); /* until the accept routine hands us a connection */
			continue;
		}
		int fd = task->fd;
		task->fd = -1;
		for (;;)
		{
			struct pollfd pf;
			memset(&pf, 0, sizeof(pf));
			pf.fd = fd;
			pf.events = POLLIN | POLLERR | POLLHUP;
			co_poll(co_get_epoll_ct(), &pf, 1, 1000);

			int n = (int)read(fd, buf, sizeof(buf));
			if (n > 0)
			{
				if (WriteAll(fd, buf, n) != n)
				{
					break;
				}
				g_echoed_bytes += n;
				continue;
			}
			if (n < 0 && errno == EAGAIN)
			{
				continue;
			}
			break; /* 0: the peer closed; or an error */
		}
		close(fd);
		++g_closed_connections;
	}
	return NULL;
}

int co_accept(int fd, struct sockaddr* addr, socklen_t* len);

static void* AcceptRoutine(void*)
{
	co_enable_hook_sys();
	for (;;)
	{
		if (g_idle_workers.empty())
		{
			co_poll(co_get_epoll_ct(), NULL, 0, 10); /* every worker is busy: wait a little */
			continue;
		}
		struct sockaddr_in addr;
		memset(&addr, 0, sizeof(addr));
		socklen_t len = sizeof(addr);
		int fd = co_accept(g_listen_fd, (struct sockaddr*)&addr, &len);
		if (fd < 0)
		{
			struct pollfd pf;
			memset(&pf, 0, sizeof(pf));
			pf.fd = g_listen_fd;
			pf.events = POLLIN | POLLERR | POLLHUP;
			co_poll(co_get_epoll_ct(), &pf, 1, 1000);
			continue;
		}
		SetNonBlock(fd);
		stTask_t* worker = g_idle_workers.top();
		g_idle_workers.pop();
		worker->fd = fd;
		co_resume(worker->co);
	}
	return NULL;
}

static int CreateTcpSocket(const char* ip, unsigned short port)
{
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	if (fd < 0)
	{
		return -1;
	}
	int reuse = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0 || listen(fd, 1024) != 0)
	{
		close(fd);
		return -1;
	}
	return fd;
}

static int TickFunc(void*)
{
	return g_max_connections > 0 && g_closed_connections >= g_max_connections ? -1 : 0;
}

int main(int argc, char* argv[])
{
	if (argc < 3)
	{
		printf("Usage: %s IP PORT [WORKER_COUNT] [MAX_CONNECTIONS]\n", argv[0]);
		return 2;
	}
	const char* ip = argv[1];
	int port = atoi(argv[2]);
	int worker_count = argc > 3 ? atoi(argv[3]) : 16;
	g_max_connections = argc > 4 ? atoi(argv[4]) : 0;

	g_listen_fd = CreateTcpSocket(ip, (unsigned short)port);
	if (g_listen_fd < 0)
	{
		printf("listen on %s:%d failed: %s\n", ip, port, strerror(errno));
		return 1;
	}
	SetNonBlock(g_listen_fd);
	struct sockaddr_in bound;
	socklen_t bound_len = sizeof(bound);
	getsockname(g_listen_fd, (struct sockaddr*)&bound, &bound_len);
	printf("listening on %s:%d\n", ip, ntohs(bound.sin_port));
	fflush(stdout);

	stTask_t* workers = new stTask_t[worker_count];
	for (int i = 0; i < worker_count; ++i)
	{
		workers[i].fd = -1;
		co_create(&workers[i].co, NULL, WorkerRoutine, &workers[i]);
		co_resume(workers[i].co);
	}
	stCoRoutine_t* accept_co = NULL;
	co_create(&accept_co, NULL, AcceptRoutine, NULL);
	co_resume(accept_co);

	co_eventloop(co_get_epoll_ct(), TickFunc, NULL);

	printf("echo server: %d connections served, %lld bytes echoed\n", g_closed_connections,
	       g_echoed_bytes);
	co_release(accept_co);
	for (int i = 0; i < worker_count; ++i)
	{
		co_release(workers[i].co);
	}
	delete[] workers;
	close(g_listen_fd);
	return 0;
}
