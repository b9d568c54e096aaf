/*
 * watch.c - one epoll set of the held requests' sockets and a thread
 * that reports their hang-ups (watch.h).
 *
 * A socket's registration carries its descriptor and a generation, and
 * the table by descriptor says which generation is watched now: an event
 * that comes after its watch was deleted (the descriptor closed and
 * reused meanwhile) finds another generation and is dropped.  Reports run
 * under the table's lock, and watch_del takes it, so an owner that has
 * returned from watch_del is never reported again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "watch.h"

#define EVENTS 64        /* hang-ups taken a wait */
#define STOP_KEY UINT64_MAX /* the eventfd's registration */

struct slot {
	void *arg; /* NULL: not watched */
	uint32_t gen;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots; /* by descriptor, under lock */
static size_t nslots;
static uint32_t next_gen;
static int epfd = -1, stopfd = -1;
static pthread_t thread;
static watch_fn *report;

static uint64_t
key_of(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

/* Under lock: forget fd's watch of generation gen, if it is the one. */
static void *
take(int fd, uint32_t gen)
{
	void *arg;

	if (fd < 0 || (size_t)fd >= nslots || slots[fd].arg == NULL ||
	    slots[fd].gen != gen)
		return NULL;
	arg = slots[fd].arg;
	slots[fd].arg = NULL;
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	return arg;
}

static void *
run(void *unused)
{
	struct epoll_event ev[EVENTS];
	void *arg;
	int i, n;

	(void)unused;
	for (;;) {
		n = epoll_wait(epfd, ev, EVENTS, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("watch: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		pthread_mutex_lock(&lock);
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == STOP_KEY) {
				pthread_mutex_unlock(&lock);
				return NULL;
			}
			arg = take((int)(uint32_t)ev[i].data.u64,
			    (uint32_t)(ev[i].data.u64 >> 32));
			if (arg != NULL)
				report(arg);
		}
		pthread_mutex_unlock(&lock);
	}
}

int
watch_start(watch_fn *gone)
{
	struct epoll_event ev = { .events = EPOLLIN,
	    .data.u64 = STOP_KEY };
	int err;

	report = gone;
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	if ((stopfd = eventfd(0, EFD_CLOEXEC)) == -1 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, stopfd, &ev) == -1)
		goto fail;
	if ((err = pthread_create(&thread, NULL, run, NULL)) != 0) {
		errno = err;
		goto fail;
	}
	return 0;
fail:
	err = errno;
	if (stopfd != -1)
		close(stopfd);
	close(epfd);
	epfd = stopfd = -1;
	errno = err;
	return -1;
}

void
watch_stop(void)
{
	uint64_t one = 1;

	if (epfd == -1)
		return;
	if (write(stopfd, &one, sizeof(one)) != sizeof(one))
		log_warn("watch: cannot stop: %s", strerror(errno));
	else
		pthread_join(thread, NULL);
	close(stopfd);
	close(epfd);
	epfd = stopfd = -1;
	free(slots);
	slots = NULL;
	nslots = 0;
}

int
watch_add(struct watch_entry *e, int fd, void *arg)
{
	struct epoll_event ev = { .events = EPOLLRDHUP };
	struct slot *grown;
	size_t n;
	int ret = -1;

	e->on = 0;
	if (fd < 0 || arg == NULL) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lock);
	if ((size_t)fd >= nslots) {
		n = nslots ? nslots : 1024;
		while (n <= (size_t)fd)
			n *= 2;
		if ((grown = realloc(slots, n * sizeof(*slots))) == NULL)
			goto done;
		memset(grown + nslots, 0, (n - nslots) * sizeof(*slots));
		slots = grown;
		nslots = n;
	}
	slots[fd].arg = arg;
	slots[fd].gen = ++next_gen;
	ev.data.u64 = key_of(fd, slots[fd].gen);
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		slots[fd].arg = NULL;
		goto done;
	}
	e->fd = fd;
	e->gen = slots[fd].gen;
	e->on = 1;
	ret = 0;
done:
	pthread_mutex_unlock(&lock);
	return ret;
}

void
watch_del(struct watch_entry *e)
{
	if (!e->on)
		return;
	pthread_mutex_lock(&lock);
	(void)take(e->fd, e->gen);
	pthread_mutex_unlock(&lock);
	e->on = 0;
}
