/*
 * redis.h - the Redis store (SPEC section 8): every inbox, queue, PIN and
 * room in one Redis, or one Redis Cluster, shared by any number of
 * inboxd nodes, behind the same struct store_ops as the in-memory store
 * (store.h).
 *
 * Each operation is Lua functions (src/lua, one Redis Functions library)
 * called with FCALL, each on the keys of one slot: a round trip that
 * checks and changes atomically, on a shared pipelined connection to
 * the slot's master (redis_link.h).  An operation over several inboxes
 * or an inbox and a room is a chain of such calls in an order that a
 * crash between them cannot make lose a message (inboxd(8): Order of
 * effects; redis_inbox.c, redis_room.c).  What
 * stays on the node: its held GETs (woken over pub/sub, timed on its own
 * wheel), a cache of the credentials it verified, its heartbeat, its
 * counters, and the gauges of its last walk over every inbox.  The only
 * hiredis user.
 *
 * Where the in-memory store's contracts differ:
 * - store_login answers from the node's cache only: STORE_OK, or
 *   STORE_NOT_FOUND for a miss or a MAC that differs, which sends the
 *   request to a first contact: store_credential gives the hash in
 *   Redis, the caller verifies it (Argon2id) and store_admit caches the
 *   MAC.  It never returns STORE_WRONG.
 * - store_create answers STORE_CONFLICT for an inbox another node made
 *   whose MAC this node has not verified.
 * - Any operation may return STORE_UNAVAILABLE (Redis cannot be
 *   reached; no change was made) and, for the caller's own inbox,
 *   STORE_WRONG when the inbox was made again since its password was
 *   verified (another generation).
 * - X-Message-Ids are the inbox's last id plus one, or Redis' clock in
 *   microseconds if later (src/lua/common.lua: Ids): they grow within
 *   an inbox and pass an earlier inbox's of the same name, but two
 *   inboxes may hold the same id.  store_send does not set m->id.
 * - store_check always returns 0: the invariants live in the scripts.
 * - store_stats: counters are this node's own (each function hands back
 *   what it counted), but inboxes_expired, the cluster's inboxes made
 *   less those that live; gauges are the cluster's: inboxes, messages
 *   and bytes, rooms, members, invitations and PINs as of the node's last
 *   walk over every key of every master (gauges.lua, a few SCAN steps a
 *   tick), waiters this node's held GETs plus the other live nodes' as
 *   their last beat said.  max-inboxes, max-memory and max-rooms are
 *   judged by those gauges.
 * - With wait_replicas, a send whose WAIT counted fewer replicas answers
 *   STORE_UNAVAILABLE, though its message is queued.
 * - A send refreshes its sender's inbox at most once a REFRESH_MS
 *   (redis_inbox.c) from a node, with that much slack on its TTL.
 *
 * No call writes a key shared by the cluster; hot paths (first contact,
 * send, pop, the end of a delivery, a hold) pass the keys of their one
 * inbox ({NAME}:i, :q, :f) and its slot's index.  Expiry: a plain inbox
 * (no room or invitation) is its keys with one TTL, deleted by Redis; an
 * indexed one is in its slot's index (inboxd:{TAG}:x) by its next
 * deadline, and the slot is reaped (reap.lua, redis_reap.c) when that
 * comes, which deletes an inbox idle for inbox-timeout (with no held GET
 * and nothing in flight on a live node), after it left its rooms with
 * left/expired events.  A GET held for a client that hung up keeps
 * nobody present: the node looks at its client when it has been held for
 * inbox-timeout and when it ends, and then the inbox ages from its
 * owner's last request; a GET held on a node whose heartbeat lapsed is
 * forgotten by the reap.
 */
#ifndef INBOXD_REDIS_H
#define INBOXD_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "store.h"

struct redis_params {
	const char *url;      /* seeds: redis://HOST[:PORT][/DB] or
	                         unix:/PATH, several for a Redis Cluster */
	const char *password; /* AUTH; NULL or "": none.  Never logged */
	const char *node_id;  /* its pub/sub channel; NULL or "": random */
	uint64_t lease_timeout_ms; /* heartbeat lifetime: after it, a node
	                              is dead and its in-flight messages go
	                              back to their inboxes */
	unsigned wait_replicas;    /* redis-wait-replicas: a send answers
	                              once that many replicas have it */
};

/*
 * Connect to the Redis p names and PING it, then disconnect: for a
 * start-up error on the terminal before the daemon detaches.  Returns 0,
 * or -1 with why filled (never with the password).
 */
int redis_probe(const struct redis_params *p, char *why, size_t len);

/*
 * Join the cluster on the Redis p names: take a node number, read (or
 * make) the cluster's credential-MAC key and give it to auth_set_key, so
 * that room secrets MACed on one node match on another, start the
 * heartbeat and subscribe to the node's channel (a thread of its own).
 * limits and ops as for store_new; timers tick every tick_ms from
 * now_ms.  Returns the store, freed with store_free, or NULL with why
 * filled.
 */
struct store *redis_store_new(const struct store_limits *limits,
    const struct store_waiter_ops *ops, const struct redis_params *p,
    uint64_t now_ms, uint64_t tick_ms, char *why, size_t len);

/*
 * Authentication failures counted in Redis for every node (SPEC section
 * 8), as peers_share_fn (peer.h) with the store as arg: one round trip a
 * failure.  Returns the address's failures in the shared window and
 * *left_ms, or -1 when Redis cannot be reached.
 */
long long redis_share_failure(void *store, const struct addr *key,
    uint64_t window_ms, uint64_t *left_ms);

/*
 * The failures of client address key (as peers keys it) in the cluster's
 * running window, counting none: fits peers_peek_fn (peer.h).  Returns
 * the count with *left_ms, or -1 when Redis cannot be reached.
 */
long long redis_peek_failures(void *store, const struct addr *key,
    uint64_t *left_ms);

/* Hears that an address reached the failure limit on some node. */
typedef void redis_learn_fn(void *arg, const struct addr *key,
    unsigned failures, uint64_t left_ms);

/*
 * From `limit' failures of an address (auth-failures-per-minute; 0: no
 * limit), every node is told at once, and learn is called on each (from
 * the subscriber thread), so that the address is refused everywhere.
 */
void redis_store_on_block(struct store *s, unsigned limit,
    redis_learn_fn *learn, void *arg);

#endif
