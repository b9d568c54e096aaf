/*
 * redis_pipe.h - one pipelined connection to one Redis server, shared by
 * every thread, with its own backoff.  Private to the Redis store: the
 * router (redis_link.c) keeps one pipe for a single Redis and one per
 * master of a Redis Cluster.
 *
 * A thread writes its commands under the pipe's mutex and takes a ticket
 * for each; replies come back in the same order.  Whichever waiting
 * thread finds nobody reading becomes the reader: it reads what Redis
 * sent, hands each reply to its ticket and wakes the waiters, until its
 * own reply is there; then another waiter takes over.  So Redis reads
 * several calls with one read and answers them with one write, and no
 * call waits for another's round trip.
 *
 * A failure (connection refused, reset, or no answer within
 * PIPE_TIMEOUT_MS) closes the connection, fails every call in flight on
 * it, and starts a backoff window during which every call fails at once
 * (PIPE_NOT_SENT), so a dead server costs a request a fast answer rather
 * than a timeout.  The window starts at PIPE_BACKOFF_MIN_MS and doubles
 * with each failed attempt up to PIPE_BACKOFF_MAX_MS; the first call that
 * works ends it.  Each connection made is an epoch: a ticket of an
 * earlier one has no reply coming.
 */
#ifndef INBOXD_REDIS_PIPE_H
#define INBOXD_REDIS_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

#include "config.h"

#define PIPE_CONNECT_MS 1000   /* a dead Redis never holds a thread for */
#define PIPE_TIMEOUT_MS 2000   /* longer: connect, and each command (more
                                  for a command of megabytes) */
#define PIPE_BACKOFF_MIN_MS 100
#define PIPE_BACKOFF_MAX_MS 5000
#define PIPE_RING 1024         /* tickets in flight on one pipe at most */

/* What every pipe of a store connects with. */
struct pipe_conf {
	char password[1024]; /* AUTH; "" for none.  Never logged */
	unsigned db;         /* SELECT unless 0 */
	const char *lib;     /* FUNCTION LOAD on each connection; or NULL */
	size_t lib_len;
};

struct redis_pipe;

/*
 * Called, from whichever thread saw it, when the pipe fails after having
 * worked (not again until a call has worked since), with what failed.
 */
typedef void pipe_down_fn(void *arg, struct redis_pipe *p, const char *what);

/*
 * A pipe to a, connected at its first call; conf must outlive it.
 * Returns NULL when memory ran out.
 */
struct redis_pipe *pipe_new(const struct redis_addr *a,
    const struct pipe_conf *conf, pipe_down_fn *down, void *arg);

/* Close the connection, failing the calls in flight, and free p. */
void pipe_free(struct redis_pipe *p);

/* The address p connects to. */
const struct redis_addr *pipe_addr(const struct redis_pipe *p);

/*
 * A new blocking connection to a, authenticated and on its DB as conf
 * says, with PIPE_CONNECT_MS for connecting and, when timeouts,
 * PIPE_TIMEOUT_MS for every read and write; TCP keepalive on.  Returns
 * NULL with why filled.  The caller owns it (redisFree).
 */
redisContext *pipe_connect(const struct redis_addr *a,
    const struct pipe_conf *conf, bool timeouts, char *why, size_t len);

/* False while backing off after a failure: calls fail at once. */
bool pipe_up(struct redis_pipe *p);

/* Count a failure seen outside the pipe's calls: back off as for one. */
void pipe_failed(struct redis_pipe *p, const char *what);

/* How a call went. */
enum pipe_status {
	PIPE_OK,       /* every reply came (each may be an error reply) */
	PIPE_NOT_SENT, /* nothing was written: the server is unreachable or
	                  backing off; the commands had no effect */
	PIPE_LOST      /* written, but the connection broke before every
	                  reply came: the commands may have run */
};

/*
 * Write n formatted commands (RESP, lens bytes each) one after the other,
 * with nothing of another thread between them, and take their tickets,
 * the first into *first; *epoch is the connection's.  n is at most
 * PIPE_RING / 4.  Returns PIPE_OK, PIPE_NOT_SENT or PIPE_LOST.
 */
enum pipe_status pipe_send(struct redis_pipe *p, unsigned n,
    char *const *cmds, const size_t *lens, uint64_t *epoch,
    uint64_t *first);

/*
 * The reply of ticket t of epoch (from pipe_send), read by this thread or
 * another, owned by the caller; NULL when the connection broke before it
 * came.  Every ticket taken must be received, in any order.
 */
redisReply *pipe_recv(struct redis_pipe *p, uint64_t epoch, uint64_t t);

/*
 * pipe_send and pipe_recv of n commands: their replies into replies[]
 * (NULL for those that never came).  Returns the status.
 */
enum pipe_status pipe_call(struct redis_pipe *p, unsigned n,
    char *const *cmds, const size_t *lens, redisReply **replies);

/* Load conf's library on the connection, after "Function not found":
 * 0, or -1. */
int pipe_load(struct redis_pipe *p);

#endif
