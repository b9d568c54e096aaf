/*
 * waiter.c - held GETs on libmicrohttpd: suspend, check, resume.
 *
 * A held GET is a suspended connection (MHD_suspend_connection): no
 * thread and no polling per waiter.  The store decides when a hold ends
 * and calls release; the handler then runs again and answers from
 * w->state (after GNU Taler's long polls).  libmicrohttpd does not watch
 * a suspended socket, so before a message is handed over, alive() peeks
 * at it: a client that hung up has left an end of file there.
 */
#include <errno.h>
#include <microhttpd.h>
#include <sys/socket.h>

#include "http.h"

static bool
waiter_alive(struct store_waiter *w)
{
	struct request *r = w->owner;
	const union MHD_ConnectionInfo *ci;
	char c;
	ssize_t n;

	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return false;
	n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return false;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return false;
	return true;
}

static void
waiter_hold(struct store_waiter *w)
{
	http_suspend(w->owner);
}

static void
waiter_release(struct store_waiter *w)
{
	http_resume(w->owner);
}

const struct store_waiter_ops waiter_ops = {
	waiter_alive,
	waiter_hold,
	waiter_release,
};
