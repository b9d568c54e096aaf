/*
 * redis_link.h - the Redis store's way to Redis: one pipelined
 * connection shared by every thread, timeouts, backoff while Redis
 * cannot be reached, and the store's Lua scripts, one Redis Functions
 * library called by FCALL.  Private to the Redis store (redis_*.c).
 *
 * libmicrohttpd calls the store from many threads at once: each call is
 * written on the shared connection as it comes and its reply read back
 * in order by whichever waiting thread reads (redis_link.c), so
 * concurrent calls travel together and no call waits for another's
 * round trip.  Replies are hiredis' (redisReply), freed by the caller
 * with freeReplyObject.
 */
#ifndef INBOXD_REDIS_LINK_H
#define INBOXD_REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

#include "lua_scripts.h"

#define LINK_CONNECT_MS 1000   /* a dead Redis never holds a thread for */
#define LINK_TIMEOUT_MS 2000   /* longer: connect, and each command (more
                                  for a command of megabytes) */
#define LINK_BACKOFF_MIN_MS 100
#define LINK_BACKOFF_MAX_MS 5000

struct redis_link;

/*
 * Called, from whichever thread saw it, each time Redis turns out to be
 * unreachable (not again until a command has worked since).
 */
typedef void link_down_fn(void *arg);

/*
 * Set up the link to url (redis://HOST[:PORT][/DB] or unix:/PATH, see
 * config_redis_url) with password (NULL or "": no AUTH; copied, wiped at
 * link_free), and prepare the scripts: src/lua/common.lua in front of
 * each other one, and their SHA-1s.  Nothing is connected yet.  Returns
 * NULL with why filled when url is malformed or memory ran out.
 */
struct redis_link *link_new(const char *url, const char *password,
    link_down_fn *down, void *arg, char *why, size_t len);

/* Close every connection still open and free l. */
void link_free(struct redis_link *l);

/*
 * A new connection to Redis, authenticated and on its DB, with
 * LINK_CONNECT_MS for connecting and, when timeouts, LINK_TIMEOUT_MS for
 * every read and write; TCP keepalive on.  Returns NULL with why filled.  The caller
 * owns it (redisFree).  Does not touch the backoff.
 */
redisContext *link_connect(struct redis_link *l, bool timeouts, char *why,
    size_t len);

/* False while backing off after a failure: commands fail at once. */
bool link_up(struct redis_link *l);

/*
 * Count a failure seen outside the link's own commands (the subscriber's
 * connection broke): back off as link_command would.
 */
void link_failed(struct redis_link *l, const char *what);

/*
 * Run one command (argc arguments of argvlen bytes) on the shared
 * connection, connecting first if need be.  Returns the reply,
 * which may be an error reply; NULL when Redis cannot be reached (the
 * link then backs off: LINK_BACKOFF_MIN_MS doubling to
 * LINK_BACKOFF_MAX_MS, during which every command fails at once).
 */
redisReply *link_command(struct redis_link *l, int argc, const char **argv,
    const size_t *argvlen);

/*
 * FCALL the function of script with argc arguments, the first nkeys of
 * them its KEYS, as link_command does; a library Redis does not know (a
 * restart, FUNCTION FLUSH) is loaded and the call made again.  The
 * reply is the function's: {counters, answer} (src/lua/common.lua), or
 * an error reply.
 */
redisReply *link_eval(struct redis_link *l, enum lua_script script,
    int nkeys, int argc, const char **argv, const size_t *argvlen);

/*
 * Pipelined calls of one script: link_batch_add queues a call, and
 * link_batch_run sends them all and reads every reply (one round trip),
 * freeing them.  Returns the number of calls that worked; the others
 * are lost, as for link_eval returning NULL.  At most LINK_BATCH_MAX
 * calls; arguments are copied.
 */
#define LINK_BATCH_MAX 256
#define LINK_BATCH_ARGS 16
struct link_batch {
	enum lua_script script;
	unsigned n;
	struct link_call {
		int argc;
		char *argv[LINK_BATCH_ARGS];
		size_t len[LINK_BATCH_ARGS];
	} call[LINK_BATCH_MAX];
};

/* Queue a call; -1 when the batch is full or memory ran out. */
int link_batch_add(struct link_batch *b, int argc, const char **argv,
    const size_t *argvlen);

unsigned link_batch_run(struct redis_link *l, struct link_batch *b);

#endif
