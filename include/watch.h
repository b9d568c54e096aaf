/*
 * watch.h - hang-ups of held requests' clients, seen as they happen.
 *
 * libmicrohttpd does not poll a suspended connection, so a client that
 * closes (FIN) or resets (RST) its socket while its GET is held would
 * keep the connection, its file descriptor and its place in the
 * per-address count until the hold ends.  The sockets of held requests
 * are therefore in an epoll(7) set of their own, watched for EPOLLRDHUP,
 * EPOLLHUP and EPOLLERR (never for data: a pipelined request is no
 * hang-up) by one thread, which reports each hang-up once.
 */
#ifndef INBOXD_WATCH_H
#define INBOXD_WATCH_H

#include <stdint.h>

/*
 * Called from the watch thread when the client of a watched socket hung
 * up, with the watch lock held: watch_del of the same entry waits until
 * it returns, so arg is alive throughout.  It must not call watch_add or
 * watch_del.
 */
typedef void watch_fn(void *arg);

/* A watched socket, embedded in its owner; zeroed means not watched. */
struct watch_entry {
	int fd;
	uint32_t gen; /* which watch of fd, for a late event */
	int on;
};

/*
 * Start the watch thread, which calls gone for each hang-up.  Returns 0,
 * or -1 with errno set.
 */
int watch_start(watch_fn *gone);

/* Stop the watch thread; nothing may be watched any more. */
void watch_stop(void);

/*
 * Watch socket fd for its peer's hang-up, reported with arg.  A socket
 * that hung up already is reported at once.  Returns 0, or -1 with errno
 * set (the socket is then not watched).
 */
int watch_add(struct watch_entry *e, int fd, void *arg);

/*
 * Stop watching e, if it is: after it returns no report of e runs or
 * will run.  From any thread but the watch thread.
 */
void watch_del(struct watch_entry *e);

#endif
