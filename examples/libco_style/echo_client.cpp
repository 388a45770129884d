/*
 * An echo client written the way libco programs are: CONNECTION_COUNT coroutines, each
 * with its own non-blocking connection (connect, then co_poll for POLLOUT), send
 * MESSAGE_COUNT messages of varying sizes and check that every byte comes back, using
 * co_poll to wait for readiness. co_eventloop drives them and ends when all are done.
 *
 * Prints "echo client: C connections x M messages, all echoes OK" and exits 0 on success.
 *
 * Usage: libco_echo_client IP PORT [CONNECTION_COUNT] [MESSAGE_COUNT]
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

#include <string>
#include <vector>
using namespace std;

struct stEndPoint_t
{
	const char* ip;
	unsigned short port;
};
struct stClient_t
{
	stCoRoutine_t* co;
	int client_id;
	int message_count;
	const stEndPoint_t* endpoint;
};

static const int kIoTimeoutMs = 10000;
static int g_finished = 0;
static int g_failed = 0;
static int g_echoes_ok = 0;

static int SetNonBlock(int fd)
{
	int flags = fcntl(fd, F_GETFL, 0);
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK | O_NDELAY);
}

/* Waits until fd is ready for events; returns co_poll's result (0: timed out). */
static int WaitFd(int fd, short events)
{
	struct pollfd pf;
	memset(&pf, 0, sizeof(pf));
	pf.fd = fd;
	pf.events = events | POLLERR | POLLHUP;
	return co_poll(co_get_epoll_ct(), &pf, 1, kIoTimeoutMs);
}

static int Connect(const stEndPoint_t* endpoint)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
	{
		return -1;
	}
	SetNonBlock(fd);
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(endpoint->port);
	inet_pton(AF_INET, endpoint->ip, &addr.sin_addr);
	if (connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0)
	{
		if (errno != EINPROGRESS || WaitFd(fd, POLLOUT) <= 0)
		{
			close(fd);
			return -1;
		}
		int error = 0;
		socklen_t len = sizeof(error);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
		if (error != 0)
		{
			errno = error;
			close(fd);
			return -1;
		}
	}
	return fd;
}

static bool WriteAll(int fd, const char* buf, size_t len)
{
	size_t done = 0;
	while (done < len)
	{
		ssize_t n = write(fd, buf + done, len - done);
		if (n > 0)
		{
			done += (size_t)n;
		}
		else if (n < 0 && errno == EAGAIN)
		{
			if (WaitFd(fd, POLLOUT) <= 0)
			{
				return false;
			}
		}
		else
		{
			return false;
		}
	}
	return true;
}

static bool ReadAll(int fd, char* buf, size_t len)
{
	size_t done = 0;
	while (done < len)
	{
		ssize_t n = read(fd, buf + done, len - done);
		if (n > 0)
		{
			done += (size_t)n;
		}
		else if (n < 0 && errno == EAGAIN)
		{
			if (WaitFd(fd, POLLIN) <= 0)
			{
				return false;
			}
		}
		else
		{
			return false; /* 0: the server closed early */
		}
	}
	return true;
}

static void* ClientRoutine(void* args)
{
	co_enable_hook_sys();
	stClient_t* client = (stClient_t*)args;
	int fd = Connect(client->endpoint);
	if (fd < 0)
	{
		printf("client %d: connect failed: %s\n", client->client_id, strerror(errno));
		++g_failed;
		++g_finished;
		return NULL;
	}
	for (int i = 0; i < client->message_count; ++i)
	{
		/* sizes from a few bytes to several socket-buffer-sized writes */
		char head[64];
		snprintf(head, sizeof(head), "client %d message %d:", client->client_id, i);
		string message(head);
		message.append((size_t)((i * 7919 + client->client_id * 104729) % 9000), (char)('a' + i % 26));
		message.push_back('\n');

		vector<char> echo(message.size());
		if (!WriteAll(fd, message.data(), message.size()) || !ReadAll(fd, &echo[0], echo.size()))
		{
			printf("client %d: message %d: i/o failed: %s\n", client->client_id, i, strerror(errno));
			++g_failed;
			break;
		}
		if (memcmp(&echo[0], message.data(), message.size()) != 0)
		{
			printf("client %d: message %d: echo differs\n", client->client_id, i);
			++g_failed;
			break;
		}
		++g_echoes_ok;
	}
	close(fd);
	++g_finished;
	return NULL;
}

static int TickFunc(void* args)
{
	int connection_count = *(int*)args;
	return g_finished == connection_count ? -1 : 0;
}

int main(int argc, char* argv[])
{
	if (argc < 3)
	{
		printf("Usage: %s IP PORT [CONNECTION_COUNT] [MESSAGE_COUNT]\n", argv[0]);
		return 2;
	}
	stEndPoint_t endpoint;
	endpoint.ip = argv[1];
	endpoint.port = (unsigned short)atoi(argv[2]);
	int connection_count = argc > 3 ? atoi(argv[3]) : 10;
	int message_count = argc > 4 ? atoi(argv[4]) : 100;

	vector<stClient_t> clients(connection_count);
	for (int i = 0; i < connection_count; ++i)
	{
		clients[i].client_id = i;
		clients[i].message_count = message_count;
		clients[i].endpoint = &endpoint;
		co_create(&clients[i].co, NULL, ClientRoutine, &clients[i]);
		co_resume(clients[i].co);
	}
	co_eventloop(co_get_epoll_ct(), TickFunc, &connection_count);

	for (int i = 0; i < connection_count; ++i)
	{
		co_release(clients[i].co);
	}
	if (g_failed != 0 || g_echoes_ok != connection_count * message_count)
	{
		printf("echo client: %d failed connections, %d of %d echoes OK\n", g_failed, g_echoes_ok,
		       connection_count * message_count);
		return 1;
	}
	printf("echo client: %d connections x %d messages, all echoes OK\n", connection_count,
	       message_count);
	return 0;
}
