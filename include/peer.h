/*
 * peer.h - what inboxd remembers per client address: open connections
 * (per-ip-connection-limit) and recent authentication failures
 * (auth-failures-per-minute).
 *
 * An IPv6 client is keyed by its /64, the block one host usually holds,
 * so that walking through a subnet buys no fresh allowance.  Entries live
 * while a connection is open or a failure window runs, expire on their own
 * timer wheel, and are capped at max_entries: past the cap a new address's
 * failures go uncounted rather than growing the table.  Every function
 * takes the table's mutex; times are CLOCK_MONOTONIC milliseconds.
 */
#ifndef INBOXD_PEER_H
#define INBOXD_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

struct peer_limits {
	unsigned connections;   /* per address; 0: unlimited */
	unsigned failures;      /* per address and window; 0: unlimited */
	uint64_t window_ms;     /* failure window, 60 s */
	unsigned max_entries;   /* addresses tracked for failures */
};

struct peer_stats {
	uint64_t entries;
	uint64_t untracked; /* failures not counted: table full */
};

struct peers;
struct peer;

/* A table with the given limits whose wheel starts at now_ms.  NULL on
 * ENOMEM.  Freed with peers_free. */
struct peers *peers_new(const struct peer_limits *lim, uint64_t now_ms,
    uint64_t tick_ms);

void peers_free(struct peers *p);

/*
 * Change the per-address connection and failure limits (0: unlimited),
 * for a reload: connections already open stay, and a failure window
 * already running counts on against the new limit.
 */
void peers_set_limits(struct peers *p, unsigned connections,
    unsigned failures);

/* True when address a may open one more connection. */
bool peers_may_connect(struct peers *p, const struct addr *a);

/*
 * Count a connection of a opened; returns its entry, to be handed to
 * peers_disconnect, or NULL when memory ran out (the connection then goes
 * uncounted).
 */
struct peer *peers_connect(struct peers *p, const struct addr *a);

/* Count the connection of entry e closed. */
void peers_disconnect(struct peers *p, struct peer *e);

/*
 * True when a has used up its failures for the running window; then
 * *retry_ms (if not NULL) gets the milliseconds until the window ends.
 */
bool peers_blocked(struct peers *p, const struct addr *a, uint64_t now_ms,
    uint64_t *retry_ms);

/* Count one authentication failure of a (a window starts at the first). */
void peers_fail(struct peers *p, const struct addr *a, uint64_t now_ms);

/*
 * Count failures beyond this table too (the nodes of a cluster): share is
 * called by peers_fail, without the table's lock, with the address as the
 * table keys it (an IPv6 client by its /64) and the window.  It counts
 * the failure where every node sees it and returns the address's
 * failures in the shared window, with *left_ms until that window ends, or
 * -1 when it cannot tell (the table's own count then stands).
 */
typedef long long peers_share_fn(void *arg, const struct addr *key,
    uint64_t window_ms, uint64_t *left_ms);

void peers_share(struct peers *p, peers_share_fn *share, void *arg);

/*
 * Ask beyond this table too: peek is called by peers_blocked, without
 * the table's lock, for an address this table has seen fail in a window
 * still running but below the limit, so that a block reached through
 * other nodes holds here at once, before its announcement arrives.  It
 * returns the shared count with *left_ms, or -1 when it cannot tell.
 * Takes the arg given to peers_share.
 */
typedef long long peers_peek_fn(void *arg, const struct addr *key,
    uint64_t *left_ms);

void peers_peek(struct peers *p, peers_peek_fn *peek);

/*
 * Learn a shared count (see peers_share): address key has failures in a
 * window that ends left_ms after now_ms.  The larger count stands.
 */
void peers_learn(struct peers *p, const struct addr *key,
    unsigned failures, uint64_t left_ms, uint64_t now_ms);

/* End the failure windows due at now_ms and free idle entries. */
void peers_expire(struct peers *p, uint64_t now_ms);

void peers_stats(struct peers *p, struct peer_stats *st);

#endif
