/*
 * store.h - inboxes, their message queues, held receivers and expiry.
 *
 * The store is the mailbox itself: a table of inboxes by name, each a FIFO
 * of messages, with the quotas of SPEC section 4 and the timeouts of
 * section 3 on a hashed timer wheel.  It does no I/O and knows nothing of
 * HTTP: a held GET is a struct store_waiter that the HTTP layer embeds in
 * its request, and the store reaches the connection only through the
 * three callbacks of struct store_waiter_ops.
 *
 * Every function takes the store's one mutex; names are NUL-terminated
 * (usernames never contain NUL).  Times are CLOCK_MONOTONIC milliseconds
 * passed in by the caller, so the store is tested without a clock.
 */
#ifndef INBOXD_STORE_H
#define INBOXD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cred.h"
#include "timer.h"

/* What a room message is (SPEC section 7): a copy or an event. */
enum room_event {
	EVENT_NONE,    /* a direct message, or a room's fan-out copy */
	EVENT_JOINED,  /* a peer joined the room */
	EVENT_LEFT,    /* a peer left, was removed or expired */
	EVENT_CLOSED,  /* the room was closed or expired */
	EVENT_INVITED, /* the recipient was invited */
};

/*
 * A queued message: one allocation holding header, sender, type, room and
 * body.  room_len is 0 for a direct message.
 */
struct message {
	struct message *next;
	uint64_t enqueued_ms;
	uint64_t id;       /* never reused for an inbox name (SPEC section 9) */
	uint32_t len;      /* body bytes */
	uint32_t cap;      /* body bytes allocated */
	uint16_t from_len; /* sender username bytes */
	uint16_t type_len; /* Content-Type bytes, 0 when none was given */
	uint16_t room_len; /* room name bytes, 0 outside rooms */
	uint8_t event;     /* enum room_event */
	char data[];       /* sender NUL, Content-Type NUL, room NUL, body */
};

/*
 * Allocate a message from sender `from' with Content-Type `type' (NULL or
 * "" for none) and room for cap body bytes, len 0.  Returns NULL when
 * memory ran out or from/type are longer than 65535 bytes.  Freed with
 * message_free unless a store took it.
 */
struct message *message_new(const char *from, const char *type, size_t cap);

/*
 * message_new for a room: the message carries room (X-Room) and event
 * (X-Event, EVENT_NONE for a fan-out copy).  room NULL is message_new.
 */
struct message *message_new_room(const char *from, const char *type,
    const char *room, enum room_event event, size_t cap);

/* Grow *m to hold cap body bytes.  Returns 0, or -1 leaving *m intact. */
int message_reserve(struct message **m, size_t cap);

void message_free(struct message *m);

static inline const char *
message_from(const struct message *m)
{
	return m->data;
}

/* The sender's Content-Type, or NULL when it gave none. */
static inline const char *
message_type(const struct message *m)
{
	return m->type_len ? m->data + m->from_len + 1 : NULL;
}

/* The room the message came through, or NULL for a direct message. */
static inline const char *
message_room(const struct message *m)
{
	return m->room_len ? m->data + m->from_len + 1 + m->type_len + 1 : NULL;
}

/* The X-Event name of a room event ("joined"...), or NULL. */
const char *message_event(const struct message *m);

static inline char *
message_body(struct message *m)
{
	return m->data + m->from_len + 1 + m->type_len + 1 + m->room_len + 1;
}

#define STORE_MALLOC_OVERHEAD 16 /* glibc's chunk header, rounded */

/* Bytes the message costs the store: what max-memory counts. */
size_t message_cost(const struct message *m);

/* Outcome of store calls. */
enum store_result {
	STORE_OK,          /* done */
	STORE_EMPTY,       /* nothing queued and no wait asked */
	STORE_HELD,        /* the waiter is held (suspended) */
	STORE_NOT_FOUND,   /* no such inbox */
	STORE_INBOX_FULL,  /* max-messages or max-inbox-bytes reached */
	STORE_SERVER_FULL, /* max-inboxes or max-memory reached */
	STORE_WRONG,       /* the credential does not match */
	STORE_NOMEM,       /* malloc failed */
	/* Rooms (SPEC section 7). */
	STORE_FORBIDDEN,   /* not a member, not the creator, no invitation */
	STORE_CONFLICT,    /* a room of that name exists */
	STORE_ROOM_FULL,   /* the room holds max_members members */
	STORE_TOO_MANY_ROOMS,       /* the inbox is in max-rooms-per-inbox */
	STORE_TOO_MANY_INVITATIONS, /* max_members invitations pending */
	STORE_NO_PEER,     /* the peer named has no inbox or membership */
	STORE_UNAVAILABLE, /* the shared store (Redis) cannot be reached */
};

/* What ended a hold, read by the request when it is resumed. */
enum waiter_state {
	WAITER_IDLE,      /* not held */
	WAITER_HELD,      /* suspended on an empty inbox */
	WAITER_MESSAGE,   /* handed a message: msg is set */
	WAITER_TIMEOUT,   /* its wait ran out */
	WAITER_DISPLACED, /* a newer GET of the same inbox took its place */
	WAITER_SHUTDOWN,  /* the daemon is stopping */
	WAITER_GONE,      /* its client hung up */
};

struct inbox;

/*
 * What a GET asks of store_receive beyond its wait (SPEC section 9), set
 * by the owner before the call; all zero is the single-message GET of
 * SPEC section 2.
 */
struct store_get {
	unsigned max;    /* messages to take at once (max=); 0 and 1: one */
	bool ack;        /* ack= given: what is delivered stays in flight */
	uint64_t ack_id; /* the id acknowledged; 0 or unknown: none */
};

/*
 * A receiving request, embedded by the HTTP layer: set by store_receive,
 * finished by store_done.  Fields are the store's, but for get, which the
 * owner sets; the owner reads state, inbox and msg after store_receive
 * returns or after its release.
 */
struct store_waiter {
	struct timer timer; /* the hold's deadline */
	struct store_waiter *prev, *next; /* the store's list of held waiters */
	struct inbox *inbox;              /* set while held or delivering */
	struct message *msg; /* the messages being delivered, oldest first,
	                        linked through next, NULL-terminated */
	struct store_get get;
	uint32_t epoch; /* memory store: the inbox's acks when it popped */
	enum waiter_state state;
	void *owner; /* the HTTP layer's request */
};

/* How the store reaches a held request's connection. */
struct store_waiter_ops {
	/* Under the store lock: is the waiter's client still connected? */
	bool (*alive)(struct store_waiter *w);
	/* Under the store lock: suspend the request, as it is now held. */
	void (*hold)(struct store_waiter *w);
	/* After the lock is released: resume a request that left HELD. */
	void (*release)(struct store_waiter *w);
};

/*
 * Resume the waiters a store collected on the list w (linked through
 * next) while it held its lock: ops->release for each, the lock dropped.
 * The one release of both stores.
 */
void store_release(const struct store_waiter_ops *ops, struct store_waiter *w);

struct store_limits {
	uint64_t inbox_timeout_ms;
	uint64_t message_timeout_ms;
	unsigned max_messages;    /* per inbox */
	uint64_t max_inbox_bytes; /* body bytes per inbox */
	unsigned max_inboxes;
	uint64_t max_memory; /* message_cost and inbox costs, all inboxes */
	unsigned max_rooms;
	unsigned max_room_members;    /* at most ROOM_MEMBERS_MAX */
	unsigned max_rooms_per_inbox; /* memberships of one inbox */
};

/* Gauges and counters, for metrics and tests. */
struct store_stats {
	uint64_t inboxes, messages, bytes, memory, waiters, pins;
	uint64_t sent, delivered, requeued, expired, inboxes_expired;
	uint64_t acked; /* deleted by an ack= GET (SPEC section 9) */
	uint64_t rooms, members, invitations;          /* gauges */
	uint64_t rooms_created, rooms_expired;         /* counters */
	uint64_t copies_delivered, copies_failed;      /* fan-out copies */
	uint64_t events, events_dropped;               /* room events */
	uint64_t gauge_walks; /* Redis: walks that made the gauges */
};

#define STORE_NAME_MAX 256 /* bytes of an inbox name (a username) */

#define ROOM_MEMBERS_MAX 1024 /* bound of max-room-members */

/* What a room event says; rendered into a message body by the store's
 * event renderer. */
struct room_news {
	enum room_event event;
	const char *room;
	const char *peer;    /* who joined, left, was invited; the creator */
	const char *reason;  /* "left", "removed", "expired", "closed", or NULL */
	const char *const *members; /* the members after the event */
	unsigned nmembers;
};

/*
 * Render the JSON body of an event: malloc'd, *len bytes, owned by the
 * caller; NULL when memory ran out (the event is then dropped).  Called
 * under the store lock.
 */
typedef char *(*room_render_fn)(const struct room_news *news, size_t *len);

/*
 * A list of inboxes the store answers with: a room's members in join
 * order (create, join, get), or the recipients of a fan-out with each
 * copy's result (STORE_OK, STORE_INBOX_FULL, STORE_SERVER_FULL).  One
 * allocation, names included, owned by the caller: free(3) it.
 */
struct roster {
	uint64_t expires_in_ms; /* the room's time left */
	unsigned n;
	struct roster_entry {
		const char *name;
		enum store_result result;
	} e[];
};

/* How a room is made. */
struct room_params {
	const char *name;   /* chosen or random; 1 to 256 bytes */
	const uint8_t *mac; /* MAC of name and secret; NULL: invite_only */
	const struct cred_hash *hash; /* Argon2id of a chosen password, or NULL */
	bool invite_only;
	unsigned max_members; /* clamped to max-room-members; 0: that */
	uint64_t ttl_ms;      /* lifetime */
};

struct store;

/*
 * The operations every store provides, with the contracts documented at
 * the store_*() wrappers below: the in-memory store (store_new) and the
 * Redis store (redis_store_new, redis.h).  The request handlers call the
 * wrappers and do not know which store runs.
 */
struct store_ops {
	void (*free)(struct store *s);
	enum store_result (*login)(struct store *s, const char *name, const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms);
	enum store_result (*create)(struct store *s, const char *name, const struct cred_hash *hash, const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms);
	enum store_result (*send)(struct store *s, const char *to, struct message *m, uint64_t now_ms);
	enum store_result (*pin_create)(struct store *s, const char *name, unsigned digits, uint64_t timeout_ms, uint64_t now_ms, uint32_t *code);
	enum store_result (*pin_send)(struct store *s, uint32_t code, struct message *m, uint64_t now_ms, char to[STORE_NAME_MAX + 1]);
	enum store_result (*receive)(struct store *s, const char *name, struct store_waiter *w, uint64_t wait_ms, uint64_t now_ms);
	void (*done)(struct store *s, struct store_waiter *w, bool delivered, uint64_t now_ms);
	void (*hangup)(struct store *s, struct store_waiter *w, uint64_t now_ms);
	void (*expire)(struct store *s, uint64_t now_ms);
	void (*shutdown)(struct store *s, uint64_t now_ms);
	int (*check)(struct store *s, char *why, size_t len);
	void (*stats)(struct store *s, struct store_stats *st);
	void (*set_renderer)(struct store *s, room_render_fn render);
	enum store_result (*room_create)(struct store *s, const char *creator, const struct room_params *p, uint64_t now_ms, struct roster **members);
	enum store_result (*room_join)(struct store *s, const char *room, const char *user, const uint8_t *mac, uint64_t now_ms, struct roster **members);
	enum store_result (*room_members)(struct store *s, const char *room, const char *user, uint64_t now_ms, struct roster **members);
	enum store_result (*room_send)(struct store *s, const char *room, const struct message *m, uint64_t now_ms, struct roster **copies);
	enum store_result (*room_invite)(struct store *s, const char *room, const char *user, const char *peer, uint64_t now_ms);
	enum store_result (*room_leave)(struct store *s, const char *room, const char *user, const char *peer, uint64_t now_ms);
	enum store_result (*room_close)(struct store *s, const char *room, const char *user, uint64_t now_ms);
	enum store_result (*credential)(struct store *s, const char *name, struct cred_hash *hash);
	enum store_result (*admit)(struct store *s, const char *name, const struct cred_hash *hash, const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms);
	bool (*healthy)(struct store *s);
	void (*set_limits)(struct store *s, const struct store_limits *lim);
};

/* Every store's first member: what the wrappers dispatch on. */
struct store_base {
	const struct store_ops *ops;
};

#define STORE_OPS(s) (((const struct store_base *)(const void *)(s))->ops)

/*
 * Create an empty store whose wheel starts at now_ms and ticks every
 * tick_ms.  ops may be NULL in tests that hold nothing.  Returns NULL when
 * memory or randomness ran out.  Freed with store_free.
 */
struct store *store_new(const struct store_limits *limits,
    const struct store_waiter_ops *ops, uint64_t now_ms, uint64_t tick_ms);

/* Free the store, its inboxes and queued messages; nothing may be held. */
static inline void
store_free(struct store *s)
{
	STORE_OPS(s)->free(s);
}

/*
 * Check the credential MAC of user name (see auth.h) and refresh its inbox.
 * The MAC of the password verified at first contact is kept with the
 * inbox, so no request after the first needs Argon2.  Returns STORE_OK on
 * a match, STORE_WRONG on a mismatch, or STORE_NOT_FOUND when the inbox
 * does not exist (first contact).
 */
static inline enum store_result
store_login(struct store *s, const char *name,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms)
{
	return STORE_OPS(s)->login(s, name, mac, now_ms);
}

/*
 * Create inbox name with the Argon2id hash and the MAC of its password
 * (first contact).  If another request created it meanwhile, the MAC is
 * checked against it as store_login does; a store that cannot tell
 * (the Redis store, for an inbox another node made) answers
 * STORE_CONFLICT, and the caller verifies the password against
 * store_credential's hash.  Returns STORE_OK, STORE_WRONG,
 * STORE_CONFLICT, STORE_SERVER_FULL (max-inboxes or max-memory),
 * STORE_NOMEM or STORE_UNAVAILABLE.
 */
static inline enum store_result
store_create(struct store *s, const char *name,
    const struct cred_hash *hash, const uint8_t mac[CRED_MAC_BYTES],
    uint64_t now_ms)
{
	return STORE_OPS(s)->create(s, name, hash, mac, now_ms);
}

/*
 * Copy the Argon2id hash (RFC 9106) of inbox name's password into *hash,
 * for a first contact with an inbox the store holds but this node has
 * not verified.  Returns STORE_OK, STORE_NOT_FOUND or STORE_UNAVAILABLE.
 * The store never hashes nor verifies: the caller does (auth.h).
 */
static inline enum store_result
store_credential(struct store *s, const char *name, struct cred_hash *hash)
{
	return STORE_OPS(s)->credential(s, name, hash);
}

/*
 * The caller verified a password whose MAC is mac against hash, as
 * store_credential gave it: remember mac for store_login, as long as the
 * inbox is still the one hashed so.  Returns STORE_OK, STORE_WRONG (the
 * inbox was made again meanwhile), STORE_NOT_FOUND or
 * STORE_UNAVAILABLE.
 */
static inline enum store_result
store_admit(struct store *s, const char *name, const struct cred_hash *hash,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms)
{
	return STORE_OPS(s)->admit(s, name, hash, mac, now_ms);
}

/*
 * Queue m in inbox `to', or hand it to the inbox's held GET (whose
 * release is then called).  Sets m->id and m->enqueued_ms.  Ids are
 * never reused for an inbox name, across restarts too, and stay below
 * 2^53 (SPEC section 9): each store says how in inboxd(8).  Messages
 * kept in flight for an acknowledgement count against the quotas.  On STORE_OK
 * the store owns m; on STORE_NOT_FOUND, STORE_INBOX_FULL or
 * STORE_SERVER_FULL the caller keeps it.
 */
static inline enum store_result
store_send(struct store *s, const char *to,
    struct message *m, uint64_t now_ms)
{
	return STORE_OPS(s)->send(s, to, m, now_ms);
}

/*
 * Give inbox name a fresh pairing code: uniform random (getrandom(2)) below
 * 10^digits (digits 1 to 9), unique among live PINs, replacing the
 * inbox's earlier PIN, forgotten after timeout_ms or with its inbox.
 * Returns STORE_OK with *code, STORE_NOT_FOUND, STORE_SERVER_FULL when no
 * free code turned up in 32 draws, or STORE_NOMEM.
 */
static inline enum store_result
store_pin_create(struct store *s, const char *name,
    unsigned digits, uint64_t timeout_ms, uint64_t now_ms, uint32_t *code)
{
	return STORE_OPS(s)->pin_create(s, name, digits, timeout_ms, now_ms, code);
}

/*
 * Send m to the inbox PIN code names, as store_send does, and consume the
 * PIN; the recipient's name is copied to `to'.  STORE_NOT_FOUND for an
 * unknown, used or expired PIN; on STORE_INBOX_FULL or STORE_SERVER_FULL
 * the PIN stays live and the caller keeps m.
 */
static inline enum store_result
store_pin_send(struct store *s, uint32_t code,
    struct message *m, uint64_t now_ms, char to[STORE_NAME_MAX + 1])
{
	return STORE_OPS(s)->pin_send(s, code, m, now_ms, to);
}

/*
 * Receive for inbox name into w (idle, w->get set).  With w->get.ack,
 * first the acknowledgement of SPEC section 9: the messages an earlier
 * ack= GET was handed, up to and including the one of id w->get.ack_id
 * in the order they were handed out, are deleted, and those handed out
 * after it go back to the head of the queue, in order, with their ids
 * (an id not in flight so acknowledges nothing, and all go back).
 * STORE_OK: up to w->get.max of the oldest live messages (at least one)
 * are now in flight in w->msg, until store_done.  STORE_EMPTY: nothing
 * queued and wait_ms is 0 (or the daemon is stopping).  STORE_HELD: w is
 * held for wait_ms and ops->hold was called; a GET already held on the
 * inbox is displaced; a message that comes ends the hold with that one
 * message.  When the hold ends, w->state says why and ops->release is
 * called; a WAITER_MESSAGE hold then needs store_done too.
 * STORE_NOT_FOUND: the inbox has expired.
 */
static inline enum store_result
store_receive(struct store *s, const char *name,
    struct store_waiter *w, uint64_t wait_ms, uint64_t now_ms)
{
	return STORE_OPS(s)->receive(s, name, w, wait_ms, now_ms);
}

/*
 * Finish w's delivery of the messages in w->msg.  Delivered: each is
 * freed, or with w->get.ack kept in flight until a later GET acknowledges
 * it (store_receive) or it outlives message-timeout.  Not delivered: each
 * goes back to the head of its inbox in order (or to the inbox's held
 * GET), unless it has outlived message-timeout.  w becomes idle.  No-op
 * without a message.
 */
static inline void
store_done(struct store *s, struct store_waiter *w, bool delivered,
    uint64_t now_ms)
{
	STORE_OPS(s)->done(s, w, delivered, now_ms);
}

/*
 * The client of w hung up (watch.h): if w is still held, its hold ends
 * now as WAITER_GONE, without refreshing its inbox (so expiry and room
 * presence run from the owner's last request), and ops->release is
 * called.  No-op for a waiter no longer held: a message handed to it
 * meanwhile goes back with store_done.
 */
static inline void
store_hangup(struct store *s, struct store_waiter *w, uint64_t now_ms)
{
	STORE_OPS(s)->hangup(s, w, now_ms);
}

/*
 * Run the timers due at now_ms: expire messages and idle inboxes, end
 * holds whose wait ran out.  Call at least once per tick.
 */
static inline void
store_expire(struct store *s, uint64_t now_ms)
{
	STORE_OPS(s)->expire(s, now_ms);
}

/* Release every held waiter with WAITER_SHUTDOWN and hold no more. */
static inline void
store_shutdown(struct store *s, uint64_t now_ms)
{
	STORE_OPS(s)->shutdown(s, now_ms);
}

/*
 * Check the store's invariants (for tests and fuzzing): queues in id
 * order with their counts and byte totals, the store's totals equal to
 * their sums, a held GET only beside an empty queue, every inbox timed,
 * max-inboxes kept.  (A requeued message may take memory past max-memory:
 * it was admitted once and is never dropped for it.)  Returns 0, or -1 with the first breach
 * described in why.
 */
static inline int
store_check(struct store *s, char *why, size_t len)
{
	return STORE_OPS(s)->check(s, why, len);
}

/*
 * Can the store serve requests now?  Always for the in-memory store; the
 * Redis store says no while Redis cannot be reached (/healthz then
 * answers 503).
 */
static inline bool
store_healthy(struct store *s)
{
	return STORE_OPS(s)->healthy(s);
}

/*
 * Apply new limits, for a reload: what is queued, held or in rooms stays
 * (an inbox over a lowered quota refuses sends until it drains), and
 * timeouts apply from each inbox's next timer.
 */
static inline void
store_set_limits(struct store *s, const struct store_limits *lim)
{
	STORE_OPS(s)->set_limits(s, lim);
}

/* Copy the gauges and counters into *st. */
static inline void
store_stats(struct store *s, struct store_stats *st)
{
	STORE_OPS(s)->stats(s, st);
}

/*
 * Rooms (SPEC section 7): a named set of inboxes with a join secret.
 * Everything a room delivers is a message queued in its members' inboxes
 * with store_send's rules, so holding, requeueing and expiry are those of
 * direct messages.  A room's secret is kept as the credential MAC (see
 * auth.h) of the room name and the secret, and a chosen password also as
 * its Argon2id hash; the store never sees a secret itself.
 */

/* Set the event renderer; without one, events are not sent. */
static inline void
store_set_renderer(struct store *s, room_render_fn render)
{
	STORE_OPS(s)->set_renderer(s, render);
}

/*
 * Create room p->name with inbox `creator' as its first member.  Returns
 * STORE_OK with *members, STORE_NOT_FOUND (creator's inbox expired),
 * STORE_CONFLICT (the name is taken), STORE_TOO_MANY_ROOMS,
 * STORE_SERVER_FULL (max-rooms or max-memory: rooms, memberships and
 * invitations count against it) or STORE_NOMEM.
 */
static inline enum store_result
store_room_create(struct store *s, const char *creator,
    const struct room_params *p, uint64_t now_ms, struct roster **members)
{
	return STORE_OPS(s)->room_create(s, creator, p, now_ms, members);
}

/*
 * Join room as inbox user with the MAC of the secret given (NULL: none).
 * A member joining again gets STORE_OK and no event; else the secret or
 * an invitation (consumed) lets it in, and the others get `joined'.
 * Returns STORE_OK with *members, STORE_NOT_FOUND (no room),
 * STORE_WRONG (a secret that does not match), STORE_FORBIDDEN (no secret
 * and no invitation), STORE_ROOM_FULL, STORE_TOO_MANY_ROOMS,
 * STORE_SERVER_FULL (max-memory) or STORE_NOMEM.
 */
static inline enum store_result
store_room_join(struct store *s, const char *room,
    const char *user, const uint8_t *mac, uint64_t now_ms,
    struct roster **members)
{
	return STORE_OPS(s)->room_join(s, room, user, mac, now_ms, members);
}

/*
 * The members of room, asked by inbox user.  STORE_OK with *members,
 * STORE_NOT_FOUND, STORE_FORBIDDEN (user is not a member) or STORE_NOMEM.
 */
static inline enum store_result
store_room_members(struct store *s, const char *room,
    const char *user, uint64_t now_ms, struct roster **members)
{
	return STORE_OPS(s)->room_members(s, room, user, now_ms, members);
}

/*
 * Send a copy of m (sender, type and body; the caller keeps m) to every
 * member of room but its sender, each under store_send's rules, one full
 * inbox never stopping the others.  Returns STORE_OK with *copies naming
 * every recipient and its result, STORE_NOT_FOUND, STORE_FORBIDDEN (the
 * sender is not a member) or STORE_NOMEM.
 */
static inline enum store_result
store_room_send(struct store *s, const char *room,
    const struct message *m, uint64_t now_ms, struct roster **copies)
{
	return STORE_OPS(s)->room_send(s, room, m, now_ms, copies);
}

/*
 * Invite inbox peer to room on behalf of member user: peer may then join
 * without the secret, and gets an `invited' event.  A member is not
 * invited again.  Returns STORE_OK, STORE_NOT_FOUND (no room),
 * STORE_FORBIDDEN (user is not a member, or not the creator of an
 * invite_only room), STORE_NO_PEER (peer has no inbox),
 * STORE_TOO_MANY_INVITATIONS, STORE_SERVER_FULL (max-memory) or
 * STORE_NOMEM.
 */
static inline enum store_result
store_room_invite(struct store *s, const char *room,
    const char *user, const char *peer, uint64_t now_ms)
{
	return STORE_OPS(s)->room_invite(s, room, user, peer, now_ms);
}

/*
 * Member peer leaves room: by its own request (user == peer, reason
 * left) or removed by the creator (reason removed, peer told too).  The
 * last member out deletes the room.  Returns STORE_OK, STORE_NOT_FOUND,
 * STORE_FORBIDDEN or STORE_NO_PEER (the creator named a non-member).
 */
static inline enum store_result
store_room_leave(struct store *s, const char *room,
    const char *user, const char *peer, uint64_t now_ms)
{
	return STORE_OPS(s)->room_leave(s, room, user, peer, now_ms);
}

/*
 * The creator user closes room; the other members get `closed'.  Returns
 * STORE_OK, STORE_NOT_FOUND or STORE_FORBIDDEN.
 */
static inline enum store_result
store_room_close(struct store *s, const char *room,
    const char *user, uint64_t now_ms)
{
	return STORE_OPS(s)->room_close(s, room, user, now_ms);
}

#endif
