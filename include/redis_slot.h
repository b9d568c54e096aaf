/*
 * redis_slot.h - Redis Cluster routing without sockets: the hash slot of a
 * key, a short hash tag for each slot, the slot map read from a CLUSTER
 * SLOTS reply, MOVED and ASK redirections, and whether INFO says the
 * server is in cluster mode.  Nothing here connects or logs; replies are
 * hiredis' (redisReply), which the caller keeps owning.
 */
#ifndef INBOXD_REDIS_SLOT_H
#define INBOXD_REDIS_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

#define REDIS_SLOTS 16384        /* hash slots of a Redis Cluster */
#define REDIS_SLOT_TAG_SIZE 6    /* a tag of redis_slot_tag with its NUL */
#define REDIS_SLOT_HOST_SIZE 256 /* a node's host with its NUL */
#define REDIS_SLOT_NONE 0xffff   /* master[] of a slot no master serves */

/*
 * The hash slot, 0 to REDIS_SLOTS - 1, of the len bytes of key (need not
 * be NUL-terminated): CRC16-XMODEM modulo 16384 of the key's hash tag,
 * the bytes between its first `{' and the first `}' after that when there
 * are any, else of the whole key (Redis' rule).
 */
unsigned redis_slot_of(const char *key, size_t len);

/* The CRC16-XMODEM (polynomial 0x1021, initial value 0) of len bytes. */
uint16_t redis_slot_crc16(const void *buf, size_t len);

/*
 * Build the table of redis_slot_tag now, once per process whichever
 * thread calls first (pthread_once; a few milliseconds).  Calling it is
 * optional: redis_slot_tag builds the table on first use.
 */
void redis_slot_tags_init(void);

/*
 * A short tag whose slot is slot, so that a key `inboxd:{TAG}:x' lands on
 * it: the base-36 form (digits, then lowercase letters) of the first
 * counter from 0 that hashes there, at most REDIS_SLOT_TAG_SIZE - 1
 * characters.  The string is static and stays valid; NULL when slot is
 * REDIS_SLOTS or more.
 */
const char *redis_slot_tag(unsigned slot);

/* A master of a Redis Cluster as CLUSTER SLOTS names it. */
struct redis_slot_node {
	char host[REDIS_SLOT_HOST_SIZE]; /* host name or numeric address */
	unsigned port;                   /* 1 to 65535 */
};

/*
 * Which master serves each slot: master[slot] indexes node[], or is
 * REDIS_SLOT_NONE.  Replicas are not kept (a command goes to a master).
 */
struct redis_slot_map {
	uint16_t master[REDIS_SLOTS];
	struct redis_slot_node *node; /* malloc'd, nnodes of them */
	size_t nnodes;
	size_t covered;               /* slots some master serves */
};

/*
 * Fill *m from reply, the reply to CLUSTER SLOTS as hiredis reads it: one
 * entry per range of slots, its start and end slot and then its master's
 * host, port (and id, and more, ignored) before the replicas'.  A master
 * serving several ranges is one node.  A node whose host is empty, null
 * or `?' (its endpoint unknown to Redis) gets fallback_host, the host the
 * reply came from.  Slots no entry lists stay REDIS_SLOT_NONE (covered
 * says how many are served).  Returns 0, or -1 with why filled when the
 * reply is not such an array, a range is out of order or overlaps
 * another, or a host or port is missing or too long; *m then holds
 * nothing to free.  Free a filled map with redis_slot_map_free.
 */
int redis_slot_map_parse(struct redis_slot_map *m, const redisReply *reply,
    const char *fallback_host, char *why, size_t len);

/* Free what redis_slot_map_parse allocated in m (m itself is the
 * caller's) and leave it empty; m may be empty already. */
void redis_slot_map_free(struct redis_slot_map *m);

/* The master of slot in m, or NULL when none serves it or slot is
 * REDIS_SLOTS or more. */
const struct redis_slot_node *redis_slot_map_node(
    const struct redis_slot_map *m, unsigned slot);

/* What an error reply asks of a cluster client. */
enum redis_slot_error {
	REDIS_SLOT_ERROR, /* any other error: the command failed */
	REDIS_SLOT_MOVED, /* the slot has a new master: send there, and read
	                     the slot map again */
	REDIS_SLOT_ASK,   /* this command only: send ASKING, then it, there */
	REDIS_SLOT_RETRY  /* TRYAGAIN, CLUSTERDOWN, LOADING or MASTERDOWN:
	                     the same again a little later */
};

/* Where a MOVED or ASK error sends a command. */
struct redis_slot_redirect {
	unsigned slot;
	char host[REDIS_SLOT_HOST_SIZE];
	unsigned port;
};

/*
 * Classify the error reply text s of len bytes (hiredis' reply->str,
 * without the leading `-'): `MOVED SLOT HOST:PORT' and `ASK SLOT
 * HOST:PORT' fill *to (the port after the last colon, so an IPv6 address
 * may go bare or in brackets; an empty or `?' host becomes fallback_host,
 * the host that answered).  A MOVED or ASK that does not parse (a slot
 * past 16383, no port, a port past 65535, a host too long) is
 * REDIS_SLOT_ERROR, and so is any other error; *to is then untouched.
 */
enum redis_slot_error redis_slot_parse_error(const char *s, size_t len,
    const char *fallback_host, struct redis_slot_redirect *to);

/*
 * The value of field in the text of an INFO or CLUSTER INFO reply (lines
 * `field:value', CRLF or LF, `#' sections) copied to out of size bytes.
 * Returns the value's length, or -1 when no line has field or the value
 * does not fit.
 */
int redis_slot_info_field(const char *text, size_t len, const char *field,
    char *out, size_t size);

/*
 * Whether the text of an INFO (or INFO cluster) reply says the server
 * runs as part of a Redis Cluster: 1 for `cluster_enabled:1', 0 for
 * `cluster_enabled:0', -1 when it has no such line.
 */
int redis_slot_cluster_enabled(const char *text, size_t len);

#endif
