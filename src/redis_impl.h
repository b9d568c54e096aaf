/*
 * redis_impl.h - the Redis store's private parts, shared by its files:
 *
 *   redis_call.c   script calls and their replies
 *   redis_held.c   the node's held GETs and the notes of early wake-ups
 *   redis_cred.c   the node's cache of verified credentials
 *   redis_inbox.c  inbox operations: first contact, send, receive, PIN
 *   redis_room.c   room operations
 *   redis_sub.c    the subscriber: wake-ups, displacements, beats
 *   redis_node.c   the node's life: start, heartbeat, walk, stats, stop,
 *                  and which other nodes are dead
 *   redis_reap.c   the reap of each slot's expiry index, when due
 *   redis_peer.c   the per-address failure counters shared over Redis
 *   redis_link.c   the way to a Redis or a Redis Cluster (redis_link.h)
 *   redis_pipe.c   one pipelined connection (redis_pipe.h)
 *
 * The Redis store: store_ops over Lua scripts, held GETs woken
 * over pub/sub, and a node-local credential cache.
 *
 * What the node keeps, under one mutex:
 * - Its held GETs, in a table by inbox name.  A pop that finds the inbox
 *   empty records this node (and the GET's token and deadline) as the
 *   inbox's waiter in the same script, so a send can never slip between
 *   "empty" and "waiting".  A send then PUBLISHes "wake NAME" on the
 *   waiter's node channel; the subscriber thread pops on the held GET's
 *   behalf (pop.lua, mode wake) and resumes it with the message, or keeps
 *   it held if another GET took the message first.  A GET on another
 *   node displaces it with "displace TOKEN NAME".  Deadlines run on the
 *   node's own timer wheel (store_expire, every tick).
 * - Notes of the wake-ups and displacements that came for a name with no
 *   held GET yet: the pop that recorded the waiter may not have reached
 *   the table when its wake-up arrived.  Before holding, a GET looks at
 *   the notes made since its pop began, and pops again if one names it.
 * - The credentials it verified: name -> the inbox's generation and the
 *   MAC of the password (auth.h), so polling costs no Argon2 and no round
 *   trip.  An entry is trusted by store_login for half an inbox-timeout
 *   after the last operation on the inbox through this node (so an inbox
 *   that may have expired since is verified against Redis again), and
 *   forgotten half an inbox-timeout later.  Every script takes the
 *   cached generation, so a password verified for an earlier inbox of
 *   the same name is refused (STORE_WRONG).
 *
 * Lock order: the store's mutex is never held across a Redis command.
 * Waiters are released after it is dropped, as in store_mem.c.
 *
 * A held GET's struct store_waiter points at its struct held through the
 * `inbox' member: the in-memory store's struct inbox is not defined here,
 * so the pointer is only stored and converted back (redis_held_of).
 */
#ifndef INBOXD_REDIS_IMPL_H
#define INBOXD_REDIS_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "redis.h"
#include "redis_link.h"
#include "redis_pipe.h"
#include "store.h"
#include "timer.h"

#define NODE_MAX 64        /* bytes of a node id (config.h: node_id) */
/* The node's name in Redis: its id, '.', and the number of this start. */
#define NODE_NAME_MAX (NODE_MAX + 1 + 20)
#define GEN_CHARS 16       /* a generation: its salt's first 64 bits, hex */
#define HELD_BUCKETS 16384 /* held GETs by name: ~19,000 at most a node */
#define CRED_BUCKETS 1024  /* grows by doubling past one entry a bucket */
#define NOTES 256          /* recent wake-ups for names not yet held */
#define PIN_DRAWS 32       /* candidate codes a pin_create tries */
#define REAP_LIMIT 64      /* inboxes and rooms a reap script handles */
#define REAP_SLOTS 64      /* due slots reaped in a tick at most */
#define SWEEP_SLOTS 64     /* slots the nodes' slow sweeps look at a tick */
#define BEATS_MAX 256      /* other nodes whose beats a node keeps */
#define DEAD_MAX 64        /* nodes known dead a node keeps */
#define WAIT_TIMEOUT_MS 1000 /* redis-wait-replicas: WAIT at most */
#define OUTBOX_EVENTS 5    /* events of a room a member_deliver takes */
#define BEAT_MS 1000       /* heartbeat period */
#define SUBSCRIBE_WAIT_MS 3000 /* for the first subscription at start */
#define ARGS_MAX LINK_EVAL_ARGS /* arguments of a script call, keys too */
#define DONE_IDS 64        /* messages a done.lua call finishes */
#define CALL_KEYS 5        /* KEYS of a script at most */
/* A key: inboxd:{TAG}:x with a tag of 2 * STORE_NAME_MAX + 1 (hex). */
#define KEY_MAX (2 * STORE_NAME_MAX + 40)
#define REFRESH_MS 1000    /* a node refreshes an inbox at most so often */
#define MSG_COST 32        /* bytes a queued message costs beyond its body */
#define INBOX_COST 256     /* bytes an inbox costs, against max-memory */
#define WALK_COUNT 500     /* keys a step of the gauges' walk scans */
#define WALK_STEPS 4       /* steps of the walk a tick */
#define WALK_GAUGES 10     /* what a step of gauges.lua counts */
#define WALK_PERIOD_MS 250 /* a walk starts at most so often */
#define COMMON_ARGS 11     /* ARGV[1..11], see src/lua/common.lua */
#define ELEMENT_HEAD_MAX 1024 /* a message's header: 3 names and numbers */
#define BATCH_MAX 256      /* unholds the main thread sends in one batch */

enum { TIMER_WAITER = 1, TIMER_CRED = 2, TIMER_PRESENCE = 3, TIMER_SLOT = 4 };

/* Another node as its beats on inboxd:all said. */
struct beat {
	char node[NODE_NAME_MAX + 1];
	uint64_t held;     /* its held GETs */
	uint64_t heard_ms; /* when */
};

/* A GET of this node: held, or delivering what it popped. */
struct held {
	struct held *hnext;
	struct timer check; /* a hold past inbox-timeout: client still there? */
	struct store_waiter *w;
	uint64_t token;  /* which GET, in the inbox's waiter record */
	bool in_table;
	bool popping;    /* a wake-up's pop runs without the lock */
	bool rewake;     /* another wake-up came meanwhile */
	enum waiter_state pending; /* an end that came while popping */
	char name[];
};

/* A verified credential. */
struct cred {
	struct cred *hnext;
	struct timer timer;  /* when it is forgotten */
	uint64_t trusted_ms; /* store_login trusts it until then */
	uint64_t refreshed_ms; /* the inbox's last refresh.lua from here */
	char gen[GEN_CHARS + 1];
	uint8_t mac[CRED_MAC_BYTES];
	char name[];
};

/* A wake-up or displacement that found no held GET. */
struct note {
	uint64_t hash; /* of the name */
	uint64_t token;
	uint64_t seq;
	bool displace;
};

/*
 * What Redis must still hear of: the end of a delivery, or a pop whose
 * answer was lost (what it took goes back).
 */
struct retry {
	struct retry *next;
	bool recover;   /* a lost pop of GET token, else a delivery's end */
	bool delivered;
	bool ack;       /* delivered to an ack= GET */
	uint64_t token;
	char name[STORE_NAME_MAX + 1];
	unsigned nids;
	uint64_t ids[]; /* the messages of the delivery */
};

/* The counters functions report (src/lua/common.lua: stat). */
enum {
	C_SENT, C_DELIVERED, C_REQUEUED, C_EXPIRED, C_ROOMS_CREATED,
	C_ROOMS_EXPIRED, C_COPIES_DELIVERED, C_COPIES_FAILED, C_EVENTS,
	C_EVENTS_DROPPED, C_ACKED, NCOUNTERS
};

struct store {
	struct store_base base; /* redis_store_ops */
	pthread_mutex_t lock;
	struct store_limits lim;
	const struct store_waiter_ops *ops;
	struct redis_link *link;
	char node[NODE_NAME_MAX + 1];
	uint64_t node_number;
	uint64_t lease_ms;
	unsigned wait_replicas;      /* redis-wait-replicas */
	uint8_t key[CRED_MAC_BYTES]; /* the cluster's MAC key */
	uint8_t hash_key[16];
	/* Under lock: */
	struct held *held[HELD_BUCKETS];
	uint64_t nheld; /* held GETs not yet released */
	struct cred **creds;
	size_t ncred_buckets, ncreds;
	struct timer_wheel wheel;
	uint64_t next_token;
	struct note notes[NOTES];
	uint64_t note_seq;
	bool shutting_down;
	struct retry *retries;
	struct timer *slot_timer;  /* REDIS_SLOTS: each slot's next reap */
	unsigned *due_slots;       /* slots whose reap came, REAP_SLOTS */
	unsigned ndue;
	struct beat beats[BEATS_MAX]; /* the other nodes heard of */
	unsigned nbeats;
	char dead[DEAD_MAX][NODE_NAME_MAX + 1]; /* a ring of dead nodes */
	unsigned ndead;
	/* The node's own counters, as the functions report them. */
	_Atomic uint64_t counter[NCOUNTERS];
	/* The gauges of the last walk over every key (gauges.lua). */
	_Atomic uint64_t g_inboxes, g_messages, g_bytes, g_walks, g_rooms,
	    g_members, g_invitations, g_pins, g_made, g_acks, g_ack_bytes;
	/* The main thread's: */
	char walk_cursor[24]; /* of the walk under way, on walk_master */
	unsigned walk_master;
	uint64_t walk_gen;    /* of the masters walked */
	uint64_t walk_sum[WALK_GAUGES];
	unsigned sweep_next;  /* the slow sweep's next slot */
	uint64_t next_beat_ms;
	uint64_t next_walk_ms; /* when the next walk may start */
	/* The now_ms of the last store_expire: the wheel's clock, which
	 * timers armed off the main thread count from. */
	atomic_uint_fast64_t clock_ms;
	uint64_t beat_held; /* nheld as the last heartbeat said */
	struct link_batch *batch;
	/*
	 * ARGV[1..11] of every script, twice: a reload writes the copy not
	 * in use, then switches (calls read the one in use while they
	 * format their command).
	 */
	char common[2][COMMON_ARGS][NODE_NAME_MAX + 1];
	atomic_uint common_in_use;
	uint64_t lease_timeout_ms; /* ARGV[5], fixed */
	atomic_bool render;
	unsigned fail_limit;      /* auth-failures-per-minute, or 0 */
	redis_learn_fn *learn;    /* told of an address over it */
	void *learn_arg;
	/* The subscriber. */
	pthread_t sub_thread;
	bool sub_started;
	pthread_mutex_t sub_lock;
	pthread_cond_t sub_cond;
	redisContext *sub; /* under sub_lock, so that free can cut it */
	atomic_bool subscribed;
	atomic_bool stopping;
};

/* The arguments of one script call: its KEYS first, then its ARGV. */
struct call {
	int argc, nkeys;
	const char *argv[ARGS_MAX];
	size_t len[ARGS_MAX];
	char num[8][24]; /* room for numbers written out */
	unsigned nnum;
	char key[CALL_KEYS][KEY_MAX];
};

/* redis_held.c */

/* The struct held of a GET held or delivering on this node. */
struct held *redis_held_of(const struct store_waiter *w);

/*
 * h as the waiter's inbox pointer (see above); converted back by
 * redis_held_of.
 */
struct inbox *redis_held_as_inbox(struct held *h);

/* Under the lock: where name's held GET is, or would go, in the table. */
struct held **redis_held_slot(struct store *s, const char *name);

/* Under the lock: take h out of the table, if it is there. */
void redis_held_remove(struct store *s, struct held *h);

/*
 * A struct held for name, zeroed, or NULL when memory ran out; free(3)d
 * with its hold.
 */
struct held *redis_held_new(const char *name);

/*
 * End w's hold for why, under the lock; resumed by redis_held_release.  A hold
 * ending without a message frees its struct held.
 */
void redis_held_unhold(struct store *s, struct held *h, enum waiter_state why,
    struct store_waiter **release);

/* Without the lock: resume the waiters collected by redis_held_unhold. */
void redis_held_release(struct store *s, struct store_waiter *w);

/*
 * Under the lock: note a wake-up (or a displacement of token) for name,
 * which has no held GET yet.
 */
void redis_held_note(struct store *s, const char *name, bool displace,
    uint64_t token);

/*
 * Did a wake-up (displace false) or a displacement of token come for
 * name after note since?  A ring that wrapped says yes.
 */
bool redis_held_noted(struct store *s, const char *name, uint64_t since,
    bool displace,
    uint64_t token);

/* redis_call.c */

/* SipHash of name under the node's key: its bucket in the node's tables. */
uint64_t redis_call_hash(const struct store *s, const char *name);

/*
 * The hash tag of the keys of an inbox or room called name into buf of
 * size bytes: name, or `~' and its hex when it holds a `}' (which would
 * end the tag) or begins with `~' (src/lua/common.lua: tag).  Returns
 * its length, or 0 when it does not fit.
 */
size_t redis_call_tag(const char *name, char *buf, size_t size);

/*
 * The key inboxd:{G}:suffix of the slot of key (len bytes), G being
 * redis_slot_tag of it, into buf: its length, or 0 when it does not fit.
 */
size_t redis_call_slot_key(const char *key, size_t len, char suffix,
    char *buf, size_t size);

/*
 * Start a call of a script of inbox name: KEYS as keys says, one letter
 * each, i q f r for the inbox's :i :q :f :r and x c for its slot's index
 * and count (i first: the call goes to its slot; src/lua/common.lua).
 */
void redis_call_inbox(struct store *s, struct call *c, const char *name,
    const char *keys);

/* Start a call of a script of room: KEYS its hash, :m, :v, :o and its
 * slot's index. */
void redis_call_room(struct store *s, struct call *c, const char *room);

/* Start a call of a script whose one KEY is key. */
void redis_call_key(struct store *s, struct call *c, const char *key);

/* Start a call of a script whose KEYS are the n keys (one slot). */
void redis_call_keys(struct store *s, struct call *c, const char *const *keys,
    int n);

/* Start a call of a script without KEYS (a walk of one server). */
void redis_call_init(struct store *s, struct call *c);

/* Append len bytes at p to c's ARGV; p must live until the call ran. */
void redis_call_bytes(struct call *c, const void *p, size_t len);

/* Append the string str to c's ARGV. */
void redis_call_str(struct call *c, const char *str);

/* Append v, in decimal, to c's ARGV. */
void redis_call_u64(struct call *c, uint64_t v);

/*
 * Call script; its answer, with the counters it sent along added to the
 * node's, or an error reply, or NULL when Redis cannot be reached.
 */
redisReply *redis_call_run(struct store *s, enum lua_script script,
    struct call *c);

/* redis_call_run of a script that answers a number, which is dropped:
 * 0, or -1 for an error or no answer. */
int redis_call_done(struct store *s, enum lua_script script, struct call *c);

/*
 * redis_call_run, then, with redis-wait-replicas N, WAIT N on the same
 * connection: *durable is false when fewer replicas than N have the
 * call's writes after WAIT_TIMEOUT_MS.
 */
redisReply *redis_call_run_wait(struct store *s, enum lua_script script,
    struct call *c, bool *durable);

/*
 * A function's reply r, {counters, answer}, as redis_call_run makes it:
 * the counters added (a due_in arming the reap of key's slot), the
 * answer returned and the rest freed.  r may be NULL or an error.
 */
redisReply *redis_call_answer(struct store *s, const char *key, size_t len,
    redisReply *r);

/* Is r (a reply or an element) the word w? */
bool redis_is_word(const redisReply *r, const char *w);

/* The first word of a script's answer: a string, or an array's first. */
const redisReply *redis_first_word(const redisReply *r);

/* A script's answer word as a result; STORE_UNAVAILABLE for errors. */
enum store_result redis_result(const redisReply *r);

/*
 * A message from its form in Redis (src/lua/common.lua):
 * "ID ENQ EVENT LEN\nFROM\nTYPE\nROOM\nBODY", len bytes.  NULL when
 * malformed or memory ran out.  enqueued_ms is on Redis' clock.
 */
struct message *redis_message(const char *e, size_t len);

/* The key of inbox name's hash, inboxd:{TAG}:i: its length, or -1. */
int redis_inbox_key(char *buf, size_t size, const char *name);

/* redis_cred.c */

/* Under the lock: where name's credential is, or would go. */
struct cred **redis_cred_slot(struct store *s, const char *name);

/* Under the lock: unlink credential c from its timer and free it. */
void redis_cred_free(struct store *s, struct cred *c);

/* Remember that name's inbox of generation gen has password mac. */
void redis_cred_put(struct store *s, const char *name, const char *gen,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now);

/*
 * The generation of name's verified inbox into gen, trusting it for an
 * operation that keeps the inbox alive extra_ms more.  Returns 0, or -1
 * when the node knows no credential of name (forgotten since login).
 */
int redis_cred_gen(struct store *s, const char *name, char gen[GEN_CHARS + 1],
    uint64_t now, uint64_t extra_ms);

/* Is a refresh.lua of name due: none from here for REFRESH_MS? */
bool redis_cred_refresh_due(struct store *s, const char *name, uint64_t now);

/* Note that name's inbox was refreshed from here at now. */
void redis_cred_refreshed(struct store *s, const char *name, uint64_t now);

/* An op on the caller's own inbox answered GONE or WRONG. */
enum store_result redis_cred_stale(struct store *s, const char *name,
    const redisReply *r,
    enum store_result gone);

/* Does r say STALE (the inbox was made again under another password)? */
bool redis_cred_is_stale(const redisReply *r);

/*
 * The generation of an inbox hashed as h: the first GEN_CHARS / 2 bytes of
 * its salt, drawn at random for each inbox made, in hex.
 */
void redis_cred_gen_of(const struct cred_hash *h, char gen[GEN_CHARS + 1]);

/* redis_inbox.c */

/* store_login (store.h) against the credential cache: no round trip. */
enum store_result redis_inbox_login(struct store *s, const char *name,
    const uint8_t mac[CRED_MAC_BYTES],
    uint64_t now_ms);

/* store_create (store.h): create.lua, the MAC remembered. */
enum store_result redis_inbox_create(struct store *s, const char *name,
    const struct cred_hash *hash,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms);

/* store_credential (store.h): HGET of the inbox's hash. */
enum store_result redis_inbox_credential(struct store *s, const char *name,
    struct cred_hash *h);

/* store_admit (store.h): the credential cache takes mac. */
enum store_result redis_inbox_admit(struct store *s, const char *name,
    const struct cred_hash *h, const uint8_t mac[CRED_MAC_BYTES],
    uint64_t now_ms);

/*
 * refresh.lua: a request of name (generation gen) other than a receive
 * keeps its inbox alive.  Unless force, the node skips it for REFRESH_MS
 * after its last one (each refresh gives the inbox REFRESH_MS of slack),
 * so a client sending in a burst costs one call a send.  STORE_OK,
 * STORE_WRONG, STORE_NOT_FOUND (gone) or STORE_UNAVAILABLE.
 */
enum store_result redis_inbox_refresh(struct store *s, const char *name,
    const char *gen, uint64_t now, bool force);

/* store_send (store.h): send.lua, after a refresh of the sender when due. */
enum store_result redis_inbox_send(struct store *s, const char *to,
    struct message *m, uint64_t now_ms);

/*
 * pop.lua for name: mode "get" (with the caller's generation gen, a hold
 * of wait_ms, the acknowledgement of get->ack) or "wake" (on behalf of
 * this node's held GET), taking up to get->max messages.
 */
redisReply *redis_inbox_pop(struct store *s, const char *name, const char *gen,
    uint64_t token, uint64_t wait_ms, const char *mode,
    const struct store_get *get);

/*
 * done.lua: the n messages ids of inbox name were delivered (to an ack=
 * GET: ack), or go back.  0, or -1 when Redis did not answer.
 */
int redis_inbox_finish(struct store *s, const char *name, const uint64_t *ids,
    unsigned n, bool delivered, bool ack);

/*
 * A pop of GET token on name got no answer: it may have taken a message,
 * which must go back (recover.lua) once Redis answers again.
 */
void redis_inbox_pop_lost(struct store *s, const char *name, uint64_t token);

/*
 * unhold.lua: this node's GET token no longer waits on name; gone: its
 * client had hung up, so it kept nobody present.
 */
void redis_inbox_unhold(struct store *s, const char *name, uint64_t token,
    bool gone);

/* Queue unhold.lua for h on the main thread's batch (under the lock). */
int redis_inbox_batch_unhold(struct store *s, const struct held *h, bool gone);

/*
 * The messages pop.lua answered, oldest first, linked through next; NULL
 * if one is malformed or memory ran out.
 */
struct message *redis_inbox_popped(const redisReply *r);

/* A pop whose messages could not be built: they go back at once. */
void redis_inbox_put_back(struct store *s, const char *name,
    const redisReply *r);

/*
 * store_receive (store.h): pop, or hold the GET with this node recorded
 * as the waiter in the same script.
 */
enum store_result redis_inbox_receive(struct store *s, const char *name,
    struct store_waiter *w,
    uint64_t wait_ms, uint64_t now_ms);

/*
 * store_done (store.h): a delivery ends; done.lua, or a retry when Redis
 * is away.
 */
void redis_inbox_done(struct store *s, struct store_waiter *w, bool delivered,
    uint64_t now_ms);

/*
 * store_hangup (store.h): the hold ends here and in Redis (unhold.lua,
 * gone), or, while a wake-up pops for it, when that pop is done.
 */
void redis_inbox_hangup(struct store *s, struct store_waiter *w,
    uint64_t now_ms);

/* store_pin_create (store.h): a claim of a code, then pin_set.lua. */
enum store_result redis_inbox_pin_create(struct store *s, const char *name,
    unsigned digits,
    uint64_t timeout_ms, uint64_t now_ms, uint32_t *code);

/* store_pin_send (store.h): the code's claim read, then
 * pin_deliver.lua. */
enum store_result redis_inbox_pin_send(struct store *s, uint32_t code,
    struct message *m,
    uint64_t now_ms, char to[STORE_NAME_MAX + 1]);

/* redis_sub.c */

/* Wait ms, or less when the store stops. */
void redis_sub_sleep(struct store *s, uint64_t ms);

/*
 * The subscriber thread: SUBSCRIBE inboxd:node:NODE on a connection of
 * its own (without a read timeout: it waits for messages), and act on
 * each.  When the connection breaks, held GETs are answered (a wake-up
 * may have been lost) and it subscribes again with backoff.
 */
void *redis_sub_run(void *arg);

/* redis_node.c */

/* End every hold for why (Redis is away, or the daemon stops). */
void redis_node_end_holds(struct store *s, enum waiter_state why,
    bool stopping);

/*
 * The states of the nodes r names (a script's {'NODES', node...} or a
 * list, elements from first on) as a script's NODES argument into buf
 * (see src/lua/pop.lua): dead when this node knows it or their heartbeat
 * key is gone, alive when a beat came lately or the key is there (or
 * Redis cannot tell).  Returns buf.
 */
const char *redis_node_states(struct store *s, const redisReply *r,
    size_t first, char *buf, size_t size);

/* The subscriber heard "beat NODE HELD". */
void redis_node_beat(struct store *s, const char *node, uint64_t held);

/* redis_reap.c */

/*
 * Reap slot in due_ms from now, unless armed sooner (any thread; takes
 * the lock).
 */
void redis_reap_arm(struct store *s, unsigned slot, uint64_t due_ms);

/* Under the lock, from the wheel: slot's reap is due (or, the list
 * full, at the next tick). */
void redis_reap_due(struct store *s, struct timer *t, uint64_t now_ms);

/*
 * The main thread, each tick without the lock: reap the slots that came
 * due and SWEEP_SLOTS more of the slow sweep over every slot.
 */
void redis_reap_run(struct store *s);

/* The slot timers and due list: 0, or -1 when memory ran out. */
int redis_reap_init(struct store *s);
void redis_reap_free(struct store *s);

/* redis_room.c */

/* store_room_create (store.h): room_create.lua. */
enum store_result redis_room_create(struct store *s, const char *creator,
    const struct room_params *p, uint64_t now_ms, struct roster **members);

/* store_room_join (store.h): room_join.lua. */
enum store_result redis_room_join(struct store *s, const char *room,
    const char *user,
    const uint8_t *mac, uint64_t now_ms, struct roster **members);

/* store_room_members (store.h): room_members.lua. */
enum store_result redis_room_members(struct store *s, const char *room,
    const char *user,
    uint64_t now_ms, struct roster **members);

/* store_room_send (store.h): a fan-out in room_send.lua. */
enum store_result redis_room_send(struct store *s, const char *room,
    const struct message *m,
    uint64_t now_ms, struct roster **copies);

/* store_room_invite (store.h): room_invite.lua. */
enum store_result redis_room_invite(struct store *s, const char *room,
    const char *user,
    const char *peer, uint64_t now_ms);

/* store_room_leave (store.h): room_leave.lua. */
enum store_result redis_room_leave(struct store *s, const char *room,
    const char *user,
    const char *peer, uint64_t now_ms);

/* store_room_close (store.h): room_close.lua. */
enum store_result redis_room_close(struct store *s, const char *room,
    const char *user,
    uint64_t now_ms);

/*
 * Queue the events of room's outbox, the elements of r from first on
 * (entries as src/lua/common.lua: announce makes them), in every
 * recipient's inbox, and then trim the outbox: 0, or -1 when some
 * recipient could not be reached (the outbox stays for the reap).
 */
int redis_room_deliver(struct store *s, const char *room,
    const redisReply *r, size_t first);

/* room_forget.lua, and the delivery of what it announced: inbox name
 * leaves room as it expires.  0, or -1. */
int redis_room_forget(struct store *s, const char *room, const char *name);

/* redis_peer.c */

/* Read an address written by addr_hex; 0, or -1 when hex is not one. */
int hex_addr(const char *hex, struct addr *a);

#endif
