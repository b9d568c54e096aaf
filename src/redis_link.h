/*
 * redis_link.h - the Redis store's way to Redis, one server or a Redis
 * Cluster, and the store's Lua scripts, one Redis Functions library
 * called by FCALL.  Private to the Redis store (redis_*.c).
 *
 * The link finds out by itself, at its first call, which of the two the
 * seed addresses of redis-url lead to (INFO: cluster_enabled).  A single
 * Redis gets one pipelined connection (redis_pipe.h), to the first seed
 * that answered.  A Redis Cluster gets one per master: the link reads
 * the slot map (CLUSTER SLOTS, redis_slot.h) and sends each call to the
 * master of the slot of its first key (every key of a call shares that
 * slot: hash tags), follows MOVED (reading the map again) and ASK
 * (ASKING, then the call, there), and retries a call whose shard is
 * failing over (TRYAGAIN, CLUSTERDOWN, a master unreachable) for up to
 * LINK_RETRY_MS.  Debian 12 packages no cluster-aware C client; this is
 * the routing, over hiredis.  FUNCTION LOAD runs on every connection
 * made, so a new master (a promoted replica, a node added) has the
 * library before its first call, and again after "Function not found".
 *
 * libmicrohttpd calls the store from many threads at once: calls travel
 * together on the shared connections and no call waits for another's
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

#define LINK_RETRY_MS 2000  /* a call waits for a failing-over shard */
#define LINK_MAP_MS 1000    /* a cluster's slot map is read this often */

struct redis_link;

/*
 * Called, from whichever thread saw it, each time a server turns out to
 * be unreachable (not again until a call to it has worked since), and
 * each time a Redis Cluster's slots change masters (a failover): GETs
 * held on the node may not be woken any more.
 */
typedef void link_down_fn(void *arg);

/*
 * Set up the link to the seeds of urls (redis-url, config_redis_seeds)
 * with password (NULL or "": no AUTH; copied, wiped at link_free), and
 * prepare the library: src/lua/common.lua at its top, each other script
 * a function.  Nothing is connected yet.  Returns NULL with why filled
 * when urls is malformed or memory ran out.
 */
struct redis_link *link_new(const char *urls, const char *password,
    link_down_fn *down, void *arg, char *why, size_t len);

/* Close every connection and free l. */
void link_free(struct redis_link *l);

/*
 * Find out what the seeds lead to (a single Redis or a Redis Cluster,
 * and its slot map), unless known: 0, or -1 with why filled (no seed
 * answered; a cluster and a DB other than 0).  Calls do it themselves.
 */
int link_setup(struct redis_link *l, char *why, size_t len);

/* Is it a Redis Cluster (as far as link_setup found out)? */
bool link_cluster(struct redis_link *l);

/*
 * A new blocking connection, authenticated and on its DB, to the single
 * Redis or to a node of the cluster (another at each call, as far as
 * they answer), with PIPE_CONNECT_MS for connecting and, when timeouts,
 * PIPE_TIMEOUT_MS for each read and write.  Returns NULL with why
 * filled.  The caller owns it (redisFree).
 */
redisContext *link_connect(struct redis_link *l, bool timeouts, char *why,
    size_t len);

/*
 * Can every slot be served now: the map covers them all and no master is
 * backing off after a failure?
 */
bool link_up(struct redis_link *l);

/*
 * A failure seen outside the link's calls (the subscriber's connection
 * broke): a single Redis backs off as after a failed call; a cluster's
 * map is read again soon.
 */
void link_failed(struct redis_link *l, const char *what);

/*
 * The main thread's periodic duty, at most every LINK_MAP_MS: read a
 * cluster's slot map again, so that a failover is seen without a call
 * failing first.
 */
void link_tick(struct redis_link *l, uint64_t now_ms);

/*
 * The calling thread's patience: how long (ms) its calls may retry a
 * shard that fails over, LINK_RETRY_MS unless set.  The main thread,
 * which also keeps every timer, sets 0 around its periodic work.
 * Returns the previous value.
 */
uint64_t link_patience(uint64_t ms);

/*
 * Run one command (argc arguments of argvlen bytes; argv[1] its key, by
 * which it is routed) and return the reply, which may be an error reply;
 * NULL when Redis cannot be reached or the connection broke before the
 * reply came (the command may have run).
 */
redisReply *link_command(struct redis_link *l, int argc, const char **argv,
    const size_t *argvlen);

#define LINK_EVAL_ARGS 96 /* arguments of a link_eval, KEYS included */

/*
 * FCALL the function of script with argc arguments, the first nkeys of
 * them its KEYS (sharing one slot, by which the call is routed), as
 * link_command does.  The reply is the function's: {counters, answer}
 * (src/lua/common.lua), or an error reply.
 */
redisReply *link_eval(struct redis_link *l, enum lua_script script,
    int nkeys, int argc, const char **argv, const size_t *argvlen);

/*
 * link_eval followed, on the same connection, by WAIT replicas for at
 * most timeout_ms: *acked is the number of replicas WAIT counted (those
 * that hold the call's writes), or -1 when WAIT did not answer.
 */
redisReply *link_eval_wait(struct redis_link *l, enum lua_script script,
    int nkeys, int argc, const char **argv, const size_t *argvlen,
    unsigned replicas, uint64_t timeout_ms, long long *acked);

/*
 * The masters of the cluster (1 for a single Redis), numbered 0 to the
 * returned count - 1 as of the map of generation *gen, which changes
 * with every change of the masters; 0 before link_setup worked.
 */
unsigned link_masters(struct redis_link *l, uint64_t *gen);

/*
 * FCALL the function of script, without KEYS, on master `master' of the
 * map of generation gen (link_masters): for a script that walks the
 * keys of one server.  NULL when the map changed since (or as
 * link_command).
 */
redisReply *link_eval_at(struct redis_link *l, unsigned master,
    uint64_t gen, enum lua_script script, int argc, const char **argv,
    const size_t *argvlen);

/*
 * Pipelined calls: link_batch_add queues an FCALL (its arguments
 * copied), and link_batch_run sends them all, each to its slot's master
 * (one round trip per master, all at once), and reads every reply into
 * call[i].reply (NULL: lost, as for link_eval returning NULL); a call
 * redirected or refused by a failing-over shard is made again on its
 * own.  link_batch_clear frees the arguments and replies.
 */
#define LINK_BATCH_ARGS 24
struct link_batch {
	unsigned n, max;
	struct link_call {
		enum lua_script script;
		int nkeys, argc;
		char *argv[LINK_BATCH_ARGS];
		size_t len[LINK_BATCH_ARGS];
		redisReply *reply;
	} call[];
};

/* A batch for max calls, or NULL when memory ran out; free(3) it after
 * link_batch_clear. */
struct link_batch *link_batch_new(unsigned max);

/* Queue a call; -1 when the batch is full or memory ran out. */
int link_batch_add(struct link_batch *b, enum lua_script script, int nkeys,
    int argc, const char **argv, const size_t *argvlen);

/* Run the calls queued; returns the number whose reply is not an error
 * (or lost). */
unsigned link_batch_run(struct redis_link *l, struct link_batch *b);

/* Free the arguments and replies of every call, and empty b. */
void link_batch_clear(struct link_batch *b);

#endif
